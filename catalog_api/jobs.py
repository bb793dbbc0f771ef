"""The catalog's background jobs, for the worker (`jointpool worker`)."""

from __future__ import annotations

from collections.abc import Callable

from pool_core.db import Database
from pool_core.queue import JobContext
from pool_core.services import sidecar_ingest, subtitles
from pool_core.services.sidecar_ingest import SIDECAR_JOB
from pool_core.services.subtitles import SUBTITLE_JOB
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage


def build_handlers(
    settings: Settings, db: Database, storage: ObjectStorage
) -> dict[str, Callable[[JobContext], None]]:
    """Sidecar ingest (`ingest_sidecar`) and subtitle ingest (`ingest_subtitle`)."""
    return {
        **sidecar_ingest.build_handlers(settings, db, storage),
        **subtitles.build_handlers(settings, db, storage),
    }


__all__ = ["SIDECAR_JOB", "SUBTITLE_JOB", "build_handlers"]

"""Housekeeping the CLI runs (`jointpool maintenance`): stale uploads and their leftovers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from pool_core.db import Database
from pool_core.storage.base import ObjectStorage


@dataclass
class StaleUploadReport:
    """What `abort_stale_uploads` did, for the CLI to print."""

    aborted: int = 0
    # Committed bytes freed by aborting them.
    bytes_freed: int = 0
    # "<org_id>:<virtual path>" of each aborted upload.
    paths: list[str] = field(default_factory=list)
    staging_objects_deleted: int = 0
    # Multipart uploads / staging objects no pending upload refers to any more.
    orphan_multiparts_aborted: int = 0
    errors: list[str] = field(default_factory=list)


def abort_stale_uploads(
    db: Database, storage: ObjectStorage, *, idle_for: timedelta
) -> StaleUploadReport:
    """Abort pending uploads idle longer than `idle_for` and delete their staging objects."""
    raise NotImplementedError

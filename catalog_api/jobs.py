"""The catalog's background jobs, for the worker (`jointpool worker`)."""

from __future__ import annotations

from pool_core.services.sidecar_ingest import SIDECAR_JOB, build_handlers

__all__ = ["SIDECAR_JOB", "build_handlers"]

"""Build the shared objects (settings, database, storage) every entry point needs.

One wiring for the launcher (`jointpool`) and each server run alone (`python -m pool_server`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pool_core.db import Database
from pool_core.private_files import private_dir
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage


@dataclass
class AppContext:
    """Settings plus lazily built database and storage clients."""

    settings: Settings

    @cached_property
    def db(self) -> Database:
        """The database of these settings."""
        private_dir(self.settings.data_dir)
        return Database(self.settings.effective_database_url, pool_size=self.settings.db_pool_size)

    @cached_property
    def storage(self) -> S3Storage:
        """The object storage of these settings."""
        return S3Storage.from_settings(self.settings)

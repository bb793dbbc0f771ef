"""A transcode worker as its own process, for the multi-worker and kill -9 tests.

    python -m tests.transcode.worker_process <ready-file>

Settings come from JOINTPOOL_* variables (like `jointpool worker`); the ready file is written
once the handlers are built, and SIGTERM stops the worker.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from pool_core.db import Database
from pool_core.logs import configure_logging
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from transcode.worker import build_runner


def main() -> None:
    """Run transcode jobs until SIGTERM."""
    settings = Settings()
    configure_logging(level="INFO", component="worker")
    db = Database(settings.effective_database_url)
    runner = build_runner(settings, db, S3Storage.from_settings(settings))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=runner.run_forever, daemon=True)
    thread.start()
    Path(sys.argv[1]).write_text(runner.worker_id)
    stop.wait()
    runner.stop()
    thread.join()
    db.dispose()


if __name__ == "__main__":
    main()

"""Run the FTP server alone: `python -m pool_server [--ready-file PATH]`.

Settings come from the `JOINTPOOL_*` environment like every entry point. With FTP_PORT 0 the
kernel picks the port; `--ready-file` receives `host port` once the server listens (tests
and supervisors read it). SIGTERM and SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from pool_core.context import AppContext
from pool_core.errors import PoolError
from pool_core.settings import load_settings
from pool_server.server import build_server, serve_until


def main(argv: list[str] | None = None) -> int:
    """Start the server and serve until a signal arrives."""
    parser = argparse.ArgumentParser(prog="python -m pool_server", description=__doc__)
    parser.add_argument("--ready-file", type=Path, help="write `host port` here when listening")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        ctx = AppContext(settings)
        server = build_server(settings, ctx.db, ctx.storage)
    except (PoolError, ValueError) as exc:
        print(f"pool_server: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    host, port = server.address[:2]
    if args.ready_file:
        tmp = args.ready_file.with_suffix(".tmp")
        tmp.write_text(f"{host} {port}\n")
        tmp.replace(args.ready_file)
    serve_until(server, stop)
    ctx.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`jointpool-sync` (also `jointpool sync`): mirror what your organization has licensed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from pool_sync.config import SyncConfig, load_config
from pool_sync.errors import LockedError, SyncError
from pool_sync.progress import Progress, human
from pool_sync.runner import run_sync
from pool_sync.state import write_atomic
from pool_sync.summary import Summary

DEFAULT_CONFIG = Path("~/.config/jointpool/sync.toml")
EXIT_OK, EXIT_FAILED, EXIT_FATAL, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = """\
exit status:
  0    all done (with --dry-run: the list was made)
  1    some files failed (listed; the cursor is not advanced, the next run retries them)
  2    the run could not start: config, destination, token, API unreachable after retries,
       or another sync holds this destination's lock
  130  interrupted (Ctrl-C); run again to resume

bwlimit: a rate (50M = 50 MiB/s) or a day schedule in local time, for example
  --bwlimit "08:00-20:00 20M, 50M"   20 MiB/s by day, 50 MiB/s otherwise
  --bwlimit "08:00-20:00 20M"        20 MiB/s by day, unlimited at night
"""


def _stamp() -> str:
    """UTC now as `20261201T013000.123Z` (no colons: it goes into Windows file names)."""
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _version() -> str:
    try:
        return metadata.version("jointpool-sync")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def build_parser(prog: str = "jointpool-sync") -> argparse.ArgumentParser:
    """The command line of `jointpool-sync`."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Download newly licensed masters (verified, resumable) into a folder.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"TOML or JSON config (api_url, token, destination); default {DEFAULT_CONFIG}",
    )
    parser.add_argument("--destination", type=Path, help="override the config's destination")
    parser.add_argument("--parallel", type=int, help="files fetched at once (default 4)")
    parser.add_argument(
        "--bwlimit",
        "--limit-rate",
        dest="bwlimit",
        metavar="LIMIT",
        help='cap the download rate: 50M, or a schedule "08:00-20:00 20M, 50M" (config: bwlimit)',
    )
    parser.add_argument(
        "--with-proxies",
        action="store_true",
        default=None,
        help="also fetch each master's proxy beside it as <master>.proxy.mp4 (config: proxies)",
    )
    parser.add_argument(
        "--with-posters",
        action="store_true",
        default=None,
        help="also fetch each master's poster beside it as <master>.poster.jpg (config: posters)",
    )
    parser.add_argument(
        "--no-subtitles",
        dest="subtitles",
        action="store_false",
        default=None,
        help="do not fetch subtitle tracks (by default each track's WebVTT and original come "
        "beside the master as <master>.<language>.vtt and <master>.<language>.original.<ext>; "
        "config: subtitles)",
    )
    parser.add_argument(
        "--prune", action="store_true", help="delete files whose license was revoked or expired"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be fetched (and pruned) without writing anything",
    )
    parser.add_argument(
        "--summary-json",
        type=Path,
        help="write the run's JSON summary here (config: summary_json; `{started}` is "
        "replaced by the UTC start time; default <destination>/.jointpool-sync/last-run.json)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    return parser


def _write_summary(path: Path | None, data: dict[str, Any], *, create: bool = True) -> None:
    """Write the JSON summary for monitoring; a failure to write it is reported, not fatal."""
    if path is None or not (create or path.parent.is_dir()):
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False))
    except OSError as exc:
        print(f"jointpool-sync: cannot write the summary {path}: {exc}", file=sys.stderr)


def _print_line(summary: Summary, data: dict[str, Any], *, prune: bool) -> None:
    if summary.dry_run:
        print(
            f"sync (dry run): {len(data['would_fetch'])} files would be fetched "
            f"({human(data['would_fetch_bytes'])}); nothing written"
        )
        return
    in_place = data["skipped"] - len(data["unavailable"])
    line = (
        f"sync: {data['downloaded']} downloaded, {in_place} already in place, "
        f"{data['failed']} failed, {human(data['bytes_fetched'])} fetched in "
        f"{summary.seconds:.1f}s"
    )
    if data["unavailable"]:
        line += f"; {len(data['unavailable'])} renditions not in the pool yet (skipped)"
    if summary.no_longer_licensed:
        line += f"; {len(summary.no_longer_licensed)} no longer licensed"
        line += " (pruned)" if prune else " (kept)"
    print(line)


def main(argv: Sequence[str] | None = None, *, prog: str = "jointpool-sync") -> int:
    """Run the sync; return the exit status."""
    _tolerant_output()
    args = build_parser(prog).parse_args(argv)
    started = _stamp()
    header = {"client": f"jointpool-sync {_version()}", "started": started}
    summary_path: Path | None = args.summary_json
    config: SyncConfig | None = None
    try:
        config = load_config(
            args.config.expanduser(),
            destination=str(args.destination) if args.destination else None,
            parallel=args.parallel,
            bwlimit=args.bwlimit,
            proxies=args.with_proxies,
            posters=args.with_posters,
            subtitles=args.subtitles,
            summary_json=str(args.summary_json) if args.summary_json else None,
        )
        # A dry run writes nothing it was not asked to: no default summary in the destination.
        if not (args.dry_run and args.summary_json is None):
            summary_path = config.summary_path(started)
        summary = run_sync(config, prune=args.prune, progress=Progress(), dry_run=args.dry_run)
    except SyncError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        # The default place is inside the destination: never create a missing one for it,
        # and leave it to the run that holds the lock.
        explicit = config is None or config.summary_json is not None
        if explicit or not isinstance(exc, LockedError):
            data = {**header, "exit_code": EXIT_FATAL, "error": str(exc)}
            _write_summary(summary_path, data, create=explicit)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run again to resume", file=sys.stderr)
        _write_summary(summary_path, {**header, "exit_code": EXIT_INTERRUPTED})
        return EXIT_INTERRUPTED
    data = summary.to_dict()
    _print_line(summary, data, prune=args.prune)
    code = EXIT_FAILED if summary.failed else EXIT_OK
    finished = _stamp()
    _write_summary(summary_path, {**header, "finished": finished, "exit_code": code, **data})
    if summary.failed:
        for item in summary.failed:
            print(f"  failed: {item.path}: {item.error}", file=sys.stderr)
        print(f"{prog}: cursor not advanced; run again to retry", file=sys.stderr)
    return code


def _tolerant_output() -> None:
    """Escape, rather than fail on, what stdout and stderr cannot encode.

    Licensed paths carry other broadcasters' titles; Windows writes a redirected stdout (the
    Task Scheduler's log) in its ANSI code page, where `ə` or Cyrillic letters would stop the
    run with UnicodeEncodeError.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")

"""`jointpool sync`: mirror what your organization has licensed into a folder.

Exit status: 0 all done; 1 some files failed (summary printed, cursor not advanced);
2 the run could not start (config, destination, token, API, lock); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pool_sync.config import load_config
from pool_sync.errors import SyncError
from pool_sync.progress import Progress, human
from pool_sync.runner import run_sync

DEFAULT_CONFIG = Path("~/.config/jointpool/sync.toml")


def build_parser() -> argparse.ArgumentParser:
    """The command line of `jointpool sync`."""
    parser = argparse.ArgumentParser(
        prog="jointpool sync",
        description="Download newly licensed masters (verified, resumable) into a folder.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"TOML or JSON config (api_url, token, destination); default {DEFAULT_CONFIG}",
    )
    parser.add_argument("--destination", type=Path, help="override the config's destination")
    parser.add_argument("--parallel", type=int, help="files fetched at once (default 4)")
    parser.add_argument("--limit-rate", help="cap the download rate, e.g. 50M (bytes/s)")
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
        "--prune", action="store_true", help="delete files whose license was revoked or expired"
    )
    parser.add_argument("--summary-json", type=Path, help="also write the summary as JSON here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `jointpool sync`; return the exit status."""
    args = build_parser().parse_args(argv)
    progress = Progress()
    try:
        config = load_config(
            args.config.expanduser(),
            destination=str(args.destination) if args.destination else None,
            parallel=args.parallel,
            limit_rate=args.limit_rate,
            proxies=args.with_proxies,
            posters=args.with_posters,
        )
        summary = run_sync(config, prune=args.prune, progress=progress)
    except SyncError as exc:
        print(f"jointpool sync: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jointpool sync: interrupted; run again to resume", file=sys.stderr)
        return 130
    data = summary.to_dict()
    if args.summary_json:
        args.summary_json.write_text(json.dumps(data, indent=1))
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
        line += " (pruned)" if args.prune else " (kept)"
    print(line)
    if summary.failed:
        for item in summary.failed:
            print(f"  failed: {item.path}: {item.error}", file=sys.stderr)
        print("jointpool sync: cursor not advanced; run again to retry", file=sys.stderr)
        return 1
    return 0

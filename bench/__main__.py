"""Run every benchmark: `python -m bench [name ...]` (`make bench`).

Each `bench/<name>.py` module exposes `main() -> int` and prints ratios against a baseline it
measures in the same run. Modules run one after another (they compete for the same 2 cores
otherwise); the exit status is non-zero if any of them failed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def discover() -> list[str]:
    """Names of the benchmark modules in this folder."""
    here = Path(__file__).resolve().parent
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(here)])
        if not info.name.startswith("_") and not info.ispkg
    )


USAGE = (
    "usage: python -m bench [name ...]\n"
    "benchmarks: {names} (all when none is named); `python -m bench.NAME --help` for options"
)


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all when none are named)."""
    known = discover()
    names = (sys.argv[1:] if argv is None else argv) or known
    if any(name in ("-h", "--help") for name in names):
        print(USAGE.format(names=", ".join(known)))
        return 0
    unknown = [name for name in names if name not in known]
    if unknown:
        # Refuse before running anything: a typo should not cost the minutes of the others.
        print(f"unknown benchmark: {', '.join(unknown)}", file=sys.stderr)
        print(USAGE.format(names=", ".join(known)), file=sys.stderr)
        return 2
    failed: list[str] = []
    for name in names:
        print(f"=== bench.{name} ===", flush=True)
        started = time.perf_counter()
        # Each module parses its own options; give it a clean argv.
        saved, sys.argv = sys.argv, [f"bench.{name}"]
        try:
            module = importlib.import_module(f"bench.{name}")
            status = module.main()
        except Exception:
            traceback.print_exc()
            status = 1
        finally:
            sys.argv = saved
        print(
            f"=== bench.{name}: {'ok' if not status else 'FAILED'} "
            f"in {time.perf_counter() - started:.0f} s ===",
            flush=True,
        )
        if status:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

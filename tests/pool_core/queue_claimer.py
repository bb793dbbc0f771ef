"""A queue worker process for the multi-process tests in test_queue.py.

    python tests/pool_core/queue_claimer.py --url URL --out FILE [options]

Runs a real `JobRunner` whose one handler, kind "record", appends `start <job-id> <attempt>
<unix-time>` to FILE, works for --job-seconds (stopping early if the lease is lost), then
appends `done <job-id> <attempt> <unix-time>`. Every line is written straight to the kernel, so
a SIGKILL loses nothing already recorded. The test reads the files of all processes to prove
each job ran exactly once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from pool_core.db import Database
from pool_core.errors import TransientJobError
from pool_core.queue import JobContext, JobRunner


def main(argv: list[str] | None = None) -> int:
    """Run the worker until idle (or until it has run --min-jobs jobs); exit 0."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--job-seconds", type=float, default=0.0)
    parser.add_argument("--go", type=Path, default=None, help="wait for this file to appear")
    parser.add_argument("--min-jobs", type=int, default=0, help="keep polling until this many")
    parser.add_argument("--deadline", type=float, default=120.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    db = Database(args.url, pool_size=args.concurrency + 2)
    out_fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def record(ctx: JobContext) -> None:
        os.write(out_fd, f"start {ctx.job_id} {ctx.attempt} {time.time():.6f}\n".encode())
        if ctx.lease_lost.wait(args.job_seconds):
            os.write(out_fd, f"abandoned {ctx.job_id} {ctx.attempt} {time.time():.6f}\n".encode())
            raise TransientJobError("lease lost")
        os.write(out_fd, f"done {ctx.job_id} {ctx.attempt} {time.time():.6f}\n".encode())

    runner = JobRunner(
        db,
        handlers={"record": record},
        worker_id=args.worker_id,
        concurrency=args.concurrency,
        lease_seconds=args.lease,
        backoff_seconds=0.1,
        poll_interval=0.05,
    )
    Path(f"{args.out}.ready").write_text(runner.worker_id)
    deadline = time.monotonic() + args.deadline
    if args.go is not None:
        while not args.go.exists():
            if time.monotonic() > deadline:
                print("never got the go signal", file=sys.stderr)
                return 2
            time.sleep(0.01)

    started = runner.run_until_idle()
    while started < args.min_jobs:
        if time.monotonic() > deadline:
            print(f"ran {started} of {args.min_jobs} jobs before the deadline", file=sys.stderr)
            return 3
        time.sleep(0.05)
        started += runner.run_until_idle()
    os.close(out_fd)
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

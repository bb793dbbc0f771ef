"""Job queue throughput, as ratios against a baseline measured in the same run.

    .venv/bin/python -m bench.queue [--jobs 2000] [--pg postgresql://...]

Baseline: one transaction per job that only marks it done (`UPDATE jobs SET status=...`), the
least any database-backed queue must write per job. Against it: the queue's claim + complete
in one thread, a `JobRunner` with 4 threads, and (PostgreSQL only) 4 claimer processes.
The PostgreSQL URL defaults to JOINTPOOL_TEST_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import delete, select, update

from pool_core import queue
from pool_core.db import Database, normalize_url
from pool_core.models import Base, Job, JobStatus
from tests.fixtures.database import create_scratch_pg_database, drop_scratch_pg_database

CLAIMER = Path(__file__).resolve().parent.parent / "tests" / "pool_core" / "queue_claimer.py"


def _fill(db: Database, jobs: int, kind: str = "record") -> None:
    with db.session() as session:
        session.execute(delete(Job))
        for n in range(jobs):
            queue.enqueue(session, kind=kind, payload={"n": n})


def _timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def baseline(db: Database, jobs: int) -> float:
    """One plain UPDATE transaction per job."""
    _fill(db, jobs)
    with db.session() as session:
        ids = list(session.scalars(select(Job.id)))

    def run() -> None:
        for job_id in ids:
            with db.session() as session:
                session.execute(
                    update(Job).where(Job.id == job_id).values(status=JobStatus.SUCCEEDED)
                )

    return _timed(run)


def claim_complete(db: Database, jobs: int) -> float:
    """The queue's two short transactions per job, one thread."""
    _fill(db, jobs)

    def run() -> None:
        while (job := queue.claim(db, worker_id="bench", lease_seconds=60)) is not None:
            queue.complete(db, job_id=job.id, worker_id="bench", attempt=job.attempts)

    return _timed(run)


def runner(db: Database, jobs: int, concurrency: int = 4) -> float:
    """A JobRunner with a no-op handler and `concurrency` threads."""
    _fill(db, jobs)
    job_runner = queue.JobRunner(
        db,
        handlers={"record": lambda ctx: None},
        concurrency=concurrency,
        lease_seconds=60,
        backoff_seconds=1,
        poll_interval=0.01,
    )
    return _timed(job_runner.run_until_idle)


def processes(db: Database, jobs: int, count: int = 4) -> float:
    """`count` claimer processes (2 threads each) started together."""
    _fill(db, jobs)
    with tempfile.TemporaryDirectory() as tmp:
        go = Path(tmp) / "go"
        outs = [Path(tmp) / f"claimer-{i}.log" for i in range(count)]
        flags = ["--go", str(go), "--concurrency", "2"]
        children = [
            subprocess.Popen(
                [sys.executable, str(CLAIMER), "--url", db.url, "--out", str(out), *flags]
            )
            for out in outs
        ]
        while not all(Path(f"{out}.ready").exists() for out in outs):
            time.sleep(0.01)
        started = time.perf_counter()
        go.touch()
        for child in children:
            if child.wait() != 0:
                raise SystemExit("a claimer process failed")
        return time.perf_counter() - started


def report(name: str, db: Database, jobs: int) -> None:
    """Print each measurement as throughput relative to the baseline."""
    base = baseline(db, jobs)
    print(f"{name}: {jobs} jobs; baseline = 1 UPDATE transaction per job ({jobs / base:.0f}/s)")
    cases: list[tuple[str, Callable[[Database, int], float]]] = [
        ("claim + complete, 1 thread", claim_complete),
        ("JobRunner, 4 threads", runner),
    ]
    if not db.is_sqlite:
        cases.append(("4 claimer processes x 2 threads", processes))
    for label, measure in cases:
        seconds = measure(db, jobs)
        print(f"  {label:<34} {base / seconds:5.2f}x baseline throughput")


def main() -> int:
    """Run the queue benchmarks on SQLite and, when configured, PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--pg", default=os.environ.get("JOINTPOOL_TEST_DATABASE_URL", ""))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        Base.metadata.create_all(db.engine)
        report("SQLite (WAL)", db, args.jobs)
        db.dispose()
    if args.pg:
        server = normalize_url(args.pg)
        url = create_scratch_pg_database(server)
        try:
            db = Database(url)
            Base.metadata.create_all(db.engine)
            report("PostgreSQL", db, args.jobs)
            db.dispose()
        finally:
            drop_scratch_pg_database(server, url)
    else:
        print("PostgreSQL: skipped (set JOINTPOOL_TEST_DATABASE_URL or --pg)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

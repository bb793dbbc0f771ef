"""Instrumentation overhead (issue 18): the same work with metrics on and off, same run.

    .venv/bin/python -m bench.metrics [--requests 4000] [--big-mib 1024] [--rounds 2]

1. The API's trivial endpoint (`GET /healthz`) served by `jointpool api` (one uvicorn
   worker, a separate process), loaded by keep-alive clients in threads: requests per second
   with JOINTPOOL_METRICS_ENABLED=true over the same with false.
2. One `--big-mib` upload by `curl -T` through the pool FTP server (`python -m pool_server`,
   a separate process) to the same SeaweedFS: MiB/s with metrics on over off.

Runs alternate off/on/on/off (A-B-B-A) `--rounds` times and the best of each side is kept:
SeaweedFS and the machine drift over a run, and this cancels the drift. Target: each ratio
>= 0.95.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.ftp import curl_upload, wait_all, write_random_file
from pool_core import migrate
from pool_core.db import Database
from pool_core.settings import Settings
from tests.fixtures.api import free_loopback_port
from tests.fixtures.ftp import FtpSubprocess, ftp_test_settings, make_account
from tests.fixtures.storage import new_bucket_storage, settings_for, start_seaweed

MIB = 1 << 20
TARGET = 0.95
CLIENT_THREADS = 4


def api_env(settings: Settings, port: int, enabled: bool) -> dict[str, str]:
    """The environment of a `jointpool api` child aimed at the bench's database and S3."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env.update(
        JOINTPOOL_DATA_DIR=str(settings.data_dir),
        JOINTPOOL_DATABASE_URL=settings.effective_database_url,
        JOINTPOOL_S3_ENDPOINT=settings.s3_endpoint,
        JOINTPOOL_S3_ACCESS_KEY=settings.s3_access_key.get_secret_value(),
        JOINTPOOL_S3_SECRET_KEY=settings.s3_secret_key.get_secret_value(),
        JOINTPOOL_S3_BUCKET=settings.s3_bucket,
        JOINTPOOL_API_PORT=str(port),
        JOINTPOOL_LOG_LEVEL="WARNING",
        JOINTPOOL_METRICS_ENABLED="true" if enabled else "false",
    )
    return env


def api_rate(settings: Settings, enabled: bool, requests: int) -> float:
    """Requests per second of GET /healthz on a fresh `jointpool api` child."""
    port = free_loopback_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "jointpool", "api"],
        env=api_env(settings, port, enabled),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError("jointpool api did not come up")
            time.sleep(0.1)
        _load(base, requests // 10)  # warm-up
        started = time.perf_counter()
        _load(base, requests)
        return requests / (time.perf_counter() - started)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)


def _load(base: str, requests: int) -> None:
    per_thread = requests // CLIENT_THREADS
    errors: list[int] = []

    def run() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(per_thread):
                status = client.get("/healthz").status_code
                if status != 200:
                    errors.append(status)

    threads = [threading.Thread(target=run) for _ in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed: {errors[:5]}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ftp_rate(
    settings: Settings, tmp: Path, big: Path, enabled: bool, name: str
) -> tuple[float, float]:
    """MiB/s of one curl upload of `big` to a fresh pool FTP server child, and the server's
    CPU seconds per GiB for it (what the instrumentation could cost, without the wall-clock
    noise of a shared machine)."""
    db = Database(settings.effective_database_url)
    login = make_account(db, name)
    db.dispose()
    os.environ["JOINTPOOL_METRICS_ENABLED"] = "true" if enabled else "false"
    server = FtpSubprocess(settings, tmp)
    server.start()
    try:
        assert server.proc is not None
        cpu_before = cpu_seconds(server.proc.pid)
        started = time.perf_counter()
        wait_all([curl_upload(f"ftp://{server.host}:{server.port}/incoming/big.bin", login, big)])
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(server.proc.pid) - cpu_before
        size = big.stat().st_size
        return size / MIB / elapsed, cpu / (size / (1 << 30))
    finally:
        server.stop()
        os.environ.pop("JOINTPOOL_METRICS_ENABLED", None)


def main() -> int:
    """Measure both ratios and print them; non-zero when one misses the target."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--phases", default="api,ftp", help="comma-separated subset of api,ftp")
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp_name:
        tmp = Path(tmp_name)
        seaweed = start_seaweed(tmp / "seaweed")
        try:
            storage = new_bucket_storage(seaweed)
            settings = ftp_test_settings(
                settings_for(seaweed, data_dir=tmp / "data", bucket=storage.bucket),
                database_url=f"sqlite:///{tmp / 'pool.db'}",
            )
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            migrate.upgrade(settings.effective_database_url)
            failures: list[str] = []
            order = [False, True, True, False] * args.rounds
            if "api" in phases:
                rates: dict[bool, list[float]] = {False: [], True: []}
                for enabled in order:
                    rates[enabled].append(api_rate(settings, enabled, args.requests))
                failures += _report("API GET /healthz", "req/s", rates)
            if "ftp" in phases:
                big = tmp / "big.bin"
                write_random_file(big, args.big_mib * MIB)
                rates = {False: [], True: []}
                cpu: dict[bool, list[float]] = {False: [], True: []}
                for n, enabled in enumerate(order):
                    rate, cpu_per_gib = ftp_rate(settings, tmp, big, enabled, f"bench{n:02d}")
                    rates[enabled].append(rate)
                    cpu[enabled].append(cpu_per_gib)
                failures += _report(f"FTP upload of {args.big_mib} MiB", "MiB/s", rates)
                _report_cpu(cpu)
        finally:
            seaweed.stop()
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


def _report_cpu(cpu: dict[bool, list[float]]) -> None:
    # The least CPU each side needed: the instrumentation's own cost shows here even when
    # the wall-clock rates of a shared machine wander more than the 5 % being measured.
    off, on = min(cpu[False]), min(cpu[True])
    runs = "; ".join(
        f"{'on' if key else 'off'} " + ", ".join(f"{s:.2f}" for s in values)
        for key, values in cpu.items()
    )
    print(f"FTP server CPU per GiB: metrics off {off:.2f} s, on {on:.2f} s, "
          f"ratio off/on {off / on:.3f} (>= {TARGET} means the metrics cost under 5 % of the "
          f"node's CPU); runs (s/GiB): {runs}")  # fmt: skip


def _report(what: str, unit: str, rates: dict[bool, list[float]]) -> list[str]:
    off, on = max(rates[False]), max(rates[True])
    ratio = on / off
    runs = "; ".join(
        f"{'on' if key else 'off'} " + ", ".join(f"{r:.0f}" for r in values)
        for key, values in rates.items()
    )
    print(f"{what}: metrics off {off:.0f} {unit}, on {on:.0f} {unit}, "
          f"ratio on/off {ratio:.3f} (target >= {TARGET}); runs ({unit}): {runs}")  # fmt: skip
    return [f"{what} ratio {ratio:.3f} < {TARGET}"] if ratio < TARGET else []


if __name__ == "__main__":
    sys.exit(main())

"""FTP ingress throughput, memory and login storms, as ratios measured in one run.

    .venv/bin/python -m bench.ftp [--big-mib 1024] [--clients 50] [--each-mib 64]
                                  [--logins 300] [--pg postgresql://...]

Everything runs on this machine against one embedded SeaweedFS:

1. one `--big-mib` file uploaded by `curl -T` through the pool FTP server (a separate
   process, the way it runs in production) against a direct boto3 multipart upload of the
   same file to the same SeaweedFS (boto3's defaults: 8 MiB parts, 10 threads);
2. `--clients` concurrent curl uploads of `--each-mib` each: all checked byte-identical by
   the server's SHA-256, aggregate throughput against the boto3 rate of (1), and the FTP
   server's peak RSS (VmHWM);
3. `--logins` clients connecting and logging in at once (spread over 60 loopback addresses
   and 30 accounts) against a plain pyftpdlib server with its in-memory authorizer;
4. (phase `settle`) one `--master-seconds` XDCAM-like master uploaded by curl while a job
   runner works: from its last byte to "asset visible" and to "proxy playable", each as a
   ratio to the transcode time, with the settle window `--settle-seconds`
   (see `bench._settle_timing`);
5. (phase `fairness`, issue 15) one member's `--tricklers` trickling uploads against another
   member's `--fair-mib` upload: the other member's time alone over its time beside them
   (see `bench._fairness`). `--phases fairness` runs it alone.
"""

from __future__ import annotations

import argparse
import contextlib
import ftplib
import hashlib
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import boto3.s3.transfer

from bench import _fairness as fairness
from bench import _settle_timing as settle_timing
from pool_core.db import Database, normalize_url
from pool_core.models import Base
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.database import create_scratch_pg_database, drop_scratch_pg_database
from tests.fixtures.ftp import FtpLogin, FtpSubprocess, ftp_test_settings, make_account
from tests.fixtures.storage import new_bucket_storage, settings_for, start_seaweed

MIB = 1 << 20
TARGET_BIG = 0.9
TARGET_MANY = 0.8
TARGET_RSS_MIB = 300


def write_random_file(path: Path, size: int) -> str:
    """Write `size` incompressible bytes and return their SHA-256."""
    digest = hashlib.sha256()
    block = 8 * MIB
    with open(path, "wb") as handle:
        written = 0
        while written < size:
            chunk = os.urandom(min(block, size - written))
            digest.update(chunk)
            handle.write(chunk)
            written += len(chunk)
    return digest.hexdigest()


def timed_boto3_upload(storage: S3Storage, path: Path, key: str) -> float:
    """Seconds for boto3's managed multipart upload of a file."""
    config = boto3.s3.transfer.TransferConfig(multipart_chunksize=8 * MIB)
    started = time.perf_counter()
    storage.client.upload_file(str(path), storage.bucket, key, Config=config)
    return time.perf_counter() - started


def curl_upload(url: str, login: FtpLogin, path: Path) -> subprocess.Popen[bytes]:
    """Start `curl -T` of a file to an FTP URL."""
    return subprocess.Popen(
        ["curl", "--silent", "--show-error", "--user", f"{login.username}:{login.password}",
         "-T", str(path), url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_all(processes: list[subprocess.Popen[bytes]]) -> None:
    """Wait for curl processes; fail loudly if one failed."""
    for process in processes:
        _, err = process.communicate(timeout=3600)
        if process.returncode:
            raise RuntimeError(f"curl failed ({process.returncode}): {err.decode().strip()}")


def server_sha256(host: str, port: int, login: FtpLogin, path: str) -> str:
    """The SHA-256 the server stored for a file (XSHA256, answered from the database)."""
    client = ftplib.FTP(timeout=60)
    client.connect(host, port)
    try:
        client.login(login.username, login.password)
        return client.sendcmd(f"XSHA256 {path}").split()[1].lower()
    finally:
        client.close()


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size so far (Linux VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not available")


class RssSampler:
    """Samples a process's resident set size, to report each phase's peak."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid = pid
        self.every = every
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.peak_mib = max(self.peak_mib, int(line.split()[1]) / 1024)
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


PLAIN_SERVER = textwrap.dedent(
    """
    import sys, logging
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer
    logging.disable(logging.CRITICAL)
    authorizer = DummyAuthorizer()
    for n in range(int(sys.argv[2])):
        authorizer.add_user(f"user{n}", "password-1234567", sys.argv[1], perm="elr")
    FTPHandler.authorizer = authorizer
    server = FTPServer(("127.0.0.1", 0), FTPHandler)
    server.max_cons = 1024
    print(server.address[1], flush=True)
    server.serve_forever()
    """
)


def login_storm(host: str, port: int, logins: list[FtpLogin], clients: int) -> float:
    """Seconds for `clients` simultaneous connect + login + quit, over 60 source addresses."""
    barrier = threading.Barrier(clients)
    errors: list[BaseException] = []

    def one(n: int) -> None:
        login = logins[n % len(logins)]
        source = f"127.0.0.{2 + n % 60}"
        barrier.wait()
        client = ftplib.FTP(timeout=120, source_address=(source, 0))
        try:
            client.connect(host, port)
            client.login(login.username, login.password)
            client.quit()
        except BaseException as exc:
            errors.append(exc)
            client.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} logins failed, first: {errors[0]!r}")
    return elapsed


def run(args: argparse.Namespace, tmp: Path, db_url: str) -> int:
    """All three measurements on one SeaweedFS; returns non-zero if a check failed."""
    failures: list[str] = []
    phases = set(args.phases.split(","))
    seaweed = start_seaweed(tmp / "seaweed")
    try:
        storage = new_bucket_storage(seaweed)
        settings: Settings = ftp_test_settings(
            settings_for(seaweed, data_dir=tmp / "data", bucket=storage.bucket),
            database_url=db_url,
            ftp_max_connections=1024,
            upload_settle_seconds=args.settle_seconds,
        )
        if args.memory_budget_mib:
            settings = settings.model_copy(
                update={"upload_memory_budget": args.memory_budget_mib * MIB}
            )
        print(f"FTP server upload memory budget: {settings.upload_memory_budget // MIB} MiB, "
              f"part size {settings.upload_part_size // MIB} MiB")  # fmt: skip
        db = Database(db_url)
        Base.metadata.create_all(db.engine)
        uploader = make_account(db, "bench")
        # Created before the server runs: nothing else writes to the database yet.
        accounts = [make_account(db, f"storm{n:02d}") for n in range(30)]
        trickler = make_account(db, "trickler")
        server = FtpSubprocess(settings, tmp)
        server.start()
        assert server.proc is not None
        base = f"ftp://{server.host}:{server.port}/incoming/"
        try:
            # 0. Fairness between members: B's upload beside A's trickling uploads.
            if "fairness" in phases:
                fair = tmp / "fair.bin"
                write_random_file(fair, args.fair_mib * MIB)
                alone_s, beside_s, restarts = fairness.measure(
                    server.host,
                    server.port,
                    attacker=trickler,
                    tricklers=args.tricklers,
                    upload=lambda: wait_all([curl_upload(base + "fair.bin", uploader, fair)]),
                )
                if not fairness.report(args.fair_mib, alone_s, beside_s, args.tricklers, restarts):
                    failures.append(f"fairness ratio {alone_s / beside_s:.2f} < target")
                fair.unlink()
                if phases == {"fairness"}:
                    return _report(failures)
            # 1. One big file: boto3 direct vs curl through the pool.
            big = tmp / "big.bin"
            big_sha = write_random_file(big, args.big_mib * MIB)
            # A-B-B-A order (boto3, FTP, FTP, boto3), best of each: SeaweedFS slows as its
            # volumes fill and warms up over time, and this cancels that drift between the two.
            boto_times: list[float] = []
            ftp_times: list[float] = []
            with RssSampler(server.proc.pid) as big_rss:
                for order in (("boto3", "ftp"), ("ftp", "boto3")):
                    for who in order:
                        if who == "boto3":
                            boto_times.append(
                                timed_boto3_upload(storage, big, "bench/baseline-big.bin")
                            )
                        elif "big" in phases:
                            started = time.perf_counter()
                            wait_all([curl_upload(base + "big.bin", uploader, big)])
                            ftp_times.append(time.perf_counter() - started)
                    if "big" not in phases:
                        break
            boto_s = min(boto_times)
            ftp_s = min(ftp_times) if ftp_times else boto_s
            if "big" in phases:
                rates = {
                    name: ", ".join(f"{args.big_mib / t:.0f}" for t in times)
                    for name, times in (("boto3", boto_times), ("FTP", ftp_times))
                }
                print(f"  runs in A-B-B-A order (MiB/s): boto3 {rates['boto3']}; "
                      f"FTP {rates['FTP']}")  # fmt: skip
            boto_rate = args.big_mib / boto_s
            ratio = boto_s / ftp_s
            if "big" in phases:
                print(f"1 upload of {args.big_mib} MiB: boto3 multipart {boto_rate:.0f} MiB/s, "
                      f"curl->FTP->S3 {args.big_mib / ftp_s:.0f} MiB/s, "
                      f"ratio {ratio:.2f} (target >= {TARGET_BIG}); "
                      f"FTP server RSS peak in this phase {big_rss.peak_mib:.0f} MiB")  # fmt: skip
            if (
                "big" in phases
                and server_sha256(server.host, server.port, uploader, "/incoming/big.bin")
                != big_sha
            ):
                failures.append("big upload is not byte-identical")
            if "big" in phases and ratio < TARGET_BIG:
                failures.append(f"big upload ratio {ratio:.2f} < {TARGET_BIG}")
            big.unlink()
            if "settle" in phases:
                master = tmp / "master.mxf"
                settle_timing.make_master(settings, master, args.master_seconds)
                timing = settle_timing.measure(
                    settings,
                    db,
                    storage,
                    lambda: wait_all([curl_upload(base + "master.mxf", uploader, master)]),
                    "/incoming/master.mxf",
                )
                print(timing.line(args.master_seconds, args.settle_seconds))
                master.unlink()

            # 2. Many concurrent uploads.
            if "many" not in phases:
                args.clients = 0
            each = tmp / "each.bin"
            each_sha = write_random_file(each, args.each_mib * MIB)
            started = time.perf_counter()
            with RssSampler(server.proc.pid) as many_rss:
                wait_all([curl_upload(base + f"c{n:03d}.bin", uploader, each)
                          for n in range(args.clients)])  # fmt: skip
            many_s = max(time.perf_counter() - started, 1e-9)
            rss = max(many_rss.peak_mib, big_rss.peak_mib, peak_rss_mib(server.proc.pid))
            total = args.clients * args.each_mib
            many_ratio = (total / many_s) / boto_rate
            identical = sum(
                server_sha256(server.host, server.port, uploader, f"/incoming/c{n:03d}.bin")
                == each_sha
                for n in range(args.clients)
            )
            if args.clients:
                print(f"{args.clients} concurrent uploads of {args.each_mib} MiB: "
                      f"{total / many_s:.0f} MiB/s aggregate, ratio to boto3 {many_ratio:.2f} "
                      f"(target >= {TARGET_MANY}); byte-identical {identical}/{args.clients}; "
                      f"FTP server RSS peak in this phase {many_rss.peak_mib:.0f} MiB, "
                      f"lifetime peak {rss:.0f} MiB (target <= {TARGET_RSS_MIB})")  # fmt: skip
            if identical != args.clients:
                failures.append("concurrent uploads not all byte-identical")
            if args.clients and many_ratio < TARGET_MANY:
                failures.append(f"concurrent ratio {many_ratio:.2f} < {TARGET_MANY}")
            if rss > TARGET_RSS_MIB:
                failures.append(f"peak RSS {rss:.0f} MiB > {TARGET_RSS_MIB}")

            # 3. Login storm: the pool (scrypt + cache + audit) vs pyftpdlib's dict authorizer.
            # Cold: each of the 30 accounts is verified with scrypt once during the storm.
            # Warm: the same storm again within the login cache's TTL (robots reconnecting).
            if "logins" not in phases:
                return _report(failures)
            cold_s = login_storm(server.host, server.port, accounts, args.logins)
            warm_s = login_storm(server.host, server.port, accounts, args.logins)
        finally:
            server.stop()
        plain = subprocess.Popen(
            [sys.executable, "-c", PLAIN_SERVER, str(tmp), "30"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert plain.stdout is not None
            port = int(plain.stdout.readline())
            plain_logins = [FtpLogin(0, 0, f"user{n}", "password-1234567") for n in range(30)]
            plain_s = login_storm("127.0.0.1", port, plain_logins, args.logins)
        finally:
            plain.terminate()
            plain.wait(timeout=30)
        print(f"{args.logins} simultaneous logins (30 accounts, 60 source IPs): plain pyftpdlib "
              f"(in-memory authorizer) {plain_s:.2f} s; pool cold (30 scrypt verifications) "
              f"{cold_s:.2f} s = {cold_s / plain_s:.1f}x; pool warm (login cache) "
              f"{warm_s:.2f} s = {warm_s / plain_s:.1f}x")  # fmt: skip
        db.dispose()
    finally:
        seaweed.stop()
    return _report(failures)


def _report(failures: list[str]) -> int:
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


def main() -> int:
    """Run the FTP benchmarks on SQLite (and on PostgreSQL with --pg)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--each-mib", type=int, default=64)
    parser.add_argument("--logins", type=int, default=300)
    parser.add_argument(
        "--memory-budget-mib",
        type=int,
        default=0,
        help="JOINTPOOL_UPLOAD_MEMORY_BUDGET for the FTP server (0 = the settings default)",
    )
    parser.add_argument(
        "--phases",
        default="big,settle,many,logins,fairness",
        help="comma-separated subset of big,settle,many,logins,fairness (boto3's baseline "
        "always runs, unless the only phase is fairness)",
    )
    parser.add_argument("--fair-mib", type=int, default=256, help="B's file for `fairness`")
    parser.add_argument("--tricklers", type=int, default=30, help="A's uploads for `fairness`")
    parser.add_argument("--master-seconds", type=int, default=60, help="master for `settle`")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=Settings.model_fields["upload_settle_seconds"].default,
        help="JOINTPOOL_UPLOAD_SETTLE_SECONDS for the FTP server (default: the setting's)",
    )
    parser.add_argument("--pg", default="", help="run on this PostgreSQL server instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ftp-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.pg:
            print("database: SQLite (WAL)")
            return run(args, tmp, f"sqlite:///{tmp / 'pool.db'}")
        server = normalize_url(args.pg)
        url = create_scratch_pg_database(server)
        try:
            print("database: PostgreSQL")
            return run(args, tmp, url)
        finally:
            with contextlib.suppress(Exception):
                drop_scratch_pg_database(server, url)


if __name__ == "__main__":
    sys.exit(main())

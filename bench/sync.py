"""`jointpool sync` throughput against direct boto3 downloads, and bytes re-fetched after a kill.

    .venv/bin/python -m bench.sync [--files 20] [--total-mib 2048] [--parallel 4]
        [--part all|throughput|bwlimit|http] [--bwlimit 20M] [--bwlimit-mib 256] [--http-mib 512]

Setup: an embedded SeaweedFS, a SQLite pool with three broadcasters, `--files` licensed
masters of random bytes totalling `--total-mib`, and the catalog API under uvicorn on a free
loopback port. Measured in the same run, best of `--rounds`:

- baseline: boto3 `download_file` of the same objects (default TransferConfig, which itself
  uses ranged GETs in 10 threads per object), `--parallel` objects at a time;
- sync: `python -m pool_sync` in its own process (feed, entitlement list, presigned URLs,
  SHA-256 verification, atomic rename), into an empty destination.

Then the sync is SIGKILLed at about 40 % of the bytes and run again; the report gives the bytes
the second run fetched beyond what was missing (0 means nothing received was fetched twice).

HTTP stack (`--part http`): one `--http-mib` (512) MiB object is stored in SeaweedFS and read
through a presigned URL on loopback, written to a file and hashed with SHA-256 (what a sync
download does), alternately by plain `http.client` (`readinto` into one reused 1 MiB buffer)
and by httpx (`iter_raw`, 1 MiB chunks, one shared Client), best of `--rounds` each, then by
`pool_sync.download.fetch` itself. Printed: MiB/s and CPU seconds (user + system of this
process) per stack, and the httpx / http.client ratios of both. This chose the sync's one
HTTP stack (see `pool_sync/download.py`).

Bandwidth limit (`--part bwlimit`): a fresh pool with `--bwlimit-mib` (256) MiB of masters is
synced by `python -m pool_sync --bwlimit 20M` in its own process, timed from start to exit
(interpreter start, feed, entitlements and the final hash included). The expected time is
size / rate (256 MiB / 20 MiB/s = 12.8 s); the report prints the measured time and its ratio
to the expected one, and fails outside ±15 %.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from boto3.s3.transfer import TransferConfig

from pool_core.db import Database
from pool_core.models import AssetStatus, Base
from pool_core.services import accounts
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_sync.bwlimit import parse_rate
from pool_sync.config import STATE_DIR
from pool_sync.download import fetch
from tests.fixtures.storage import new_bucket_storage, settings_for, start_seaweed
from tests.pool_core.test_licensing import build_world, grant, make_asset, open_window
from tests.pool_sync.harness import build_app, serve

MIB = 1 << 20


def _populate(db: Database, storage: S3Storage, files: int, total: int) -> tuple[str, int]:
    """Create the world and `files` licensed masters; return the buyer's token and bytes."""
    size = total // files
    stored = 0
    with db.session() as session:
        w = build_world(session)
        for n in range(files):
            data = os.urandom(size)
            asset = make_asset(session, w.owner, w.title, None, f"master{n:02d}.mxf", data)
            storage.client.upload_fileobj(
                io.BytesIO(data),
                storage.bucket,
                asset.object_key,
                Config=TransferConfig(multipart_chunksize=16 * MIB),
            )
            stored += size
        # The two small episode masters of the test world are not in storage: drop them
        # from the entitlement by making them unready.
        for asset in w.assets:
            asset.status = AssetStatus.FAILED
        open_window(session, w)
        grant(session, w, w.buyer_editor)
        _, token = accounts.create_api_token(session, user=w.buyer_editor, name="bench")
    return token, stored


def _boto3_round(
    storage: S3Storage, keys: list[str], into: Path, parallel: int, *, verify: bool = False
) -> float:
    into.mkdir(parents=True, exist_ok=True)

    def one(key: str) -> None:
        path = into / key.replace("/", "_")
        storage.client.download_file(storage.bucket, key, str(path))
        if verify:
            # What any careful mirror must add: read the file back and hash it.
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while block := handle.read(8 * MIB):
                    digest.update(block)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(one, keys))
    elapsed = time.perf_counter() - started
    shutil.rmtree(into)
    return elapsed


def _write_config(path: Path, base: str, token: str, dest: Path, parallel: int) -> None:
    path.write_text(
        json.dumps(
            {"api_url": base, "token": token, "destination": str(dest), "parallel": parallel}
        )
    )


def _sync(config: Path, summary: Path | None = None) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "pool_sync", "--config", str(config)]
    if summary is not None:
        args += ["--summary-json", str(summary)]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _sync_round(config: Path, dest: Path) -> float:
    dest.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    child = _sync(config)
    _, err = child.communicate()
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"sync failed ({child.returncode}): {err.decode()[-2000:]}")
    shutil.rmtree(dest)
    return elapsed


def _bytes_on_disk(dest: Path) -> int:
    return sum(p.stat().st_size for p in dest.rglob("*") if p.is_file() and p.suffix != ".json")


def _kill_and_rerun(config: Path, dest: Path, total: int, tmp: Path) -> dict[str, int]:
    dest.mkdir(parents=True, exist_ok=True)
    child = _sync(config)
    target = int(total * 0.4)
    while _bytes_on_disk(dest) < target:
        if child.poll() is not None:
            raise RuntimeError("sync finished before it could be killed; use more data")
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    if child.stderr:
        child.stderr.close()
    kept = _bytes_on_disk(dest)
    summary_path = tmp / "rerun.json"
    rerun = _sync(config, summary_path)
    _, err = rerun.communicate()
    if rerun.returncode != 0:
        raise RuntimeError(f"re-run failed: {err.decode()[-2000:]}")
    summary = json.loads(summary_path.read_text())
    fetched = int(summary["bytes_fetched"])
    return {"kept": kept, "fetched": fetched, "refetched": fetched - (total - kept)}


@dataclass
class Pool:
    """A running pool for one benchmark part: storage, database, API, the buyer's token."""

    storage: S3Storage
    db: Database
    base: str
    token: str
    stored: int


@contextmanager
def _pool(tmp: Path, files: int, total: int) -> Iterator[Pool]:
    """Start SeaweedFS, a SQLite pool with `files` licensed masters and the API under uvicorn."""
    seaweed = start_seaweed(tmp / "seaweed")
    try:
        storage = new_bucket_storage(seaweed)
        settings: Settings = settings_for(seaweed, data_dir=tmp, bucket=storage.bucket)
        db = Database(f"sqlite:///{tmp / 'pool.db'}")
        Base.metadata.create_all(db.engine)
        print(f"storing {files} masters, {total // MIB} MiB ...", flush=True)
        token, stored = _populate(db, storage, files, total)
        try:
            with serve(build_app(settings, db, storage)) as base:
                yield Pool(storage, db, base, token, stored)
        finally:
            db.dispose()
    finally:
        seaweed.stop()


def _throughput(args: argparse.Namespace, tmp: Path) -> int:
    """Sync against boto3, then kill and resume."""
    total = args.total_mib * MIB
    with _pool(tmp, args.files, total) as pool:
        storage, base, token, stored = pool.storage, pool.base, pool.token, pool.stored
        keys = [info.key for info in storage.list("masters/")]
        config = tmp / "sync.json"
        dest = tmp / "dest"
        _write_config(config, base, token, dest, args.parallel)
        boto_times, verified_times, sync_times = [], [], []
        for _ in range(args.rounds):
            boto_times.append(_boto3_round(storage, keys, tmp / "boto", args.parallel))
            sync_times.append(_sync_round(config, dest))
            verified_times.append(
                _boto3_round(storage, keys, tmp / "boto", args.parallel, verify=True)
            )
        boto_rate = stored / min(boto_times) / MIB
        verified_rate = stored / min(verified_times) / MIB
        sync_rate = stored / min(sync_times) / MIB
        print(f"boto3 download_file x{args.parallel}:          {boto_rate:8.1f} MiB/s")
        print(f"boto3 download_file + sha256 x{args.parallel}: {verified_rate:8.1f} MiB/s")
        print(f"jointpool sync x{args.parallel} (sha256 inline): {sync_rate:8.1f} MiB/s")
        print(f"sync / boto3 throughput ratio: {sync_rate / boto_rate:.2f} (target >= 0.9)")
        print(f"sync / (boto3 + sha256) ratio: {sync_rate / verified_rate:.2f}")
        killed = _kill_and_rerun(config, dest, stored, tmp)
        synced = len(list(dest.rglob("master*.mxf")))
        if synced != args.files:
            raise RuntimeError(f"only {synced} of {args.files} masters synced")
        print(
            f"kill at {killed['kept'] / stored:.0%} then re-run: fetched "
            f"{killed['fetched'] / MIB:.1f} MiB of {(stored - killed['kept']) / MIB:.1f} "
            f"MiB missing; re-downloaded {killed['refetched']} bytes "
            f"({killed['refetched'] / stored:.4%} of the total)"
        )
        if (dest / STATE_DIR).exists():
            shutil.rmtree(dest)
    return 0


def _bwlimit(args: argparse.Namespace, tmp: Path) -> int:
    """A rate-limited sync must take size / rate, within ±15 %."""
    rate = parse_rate(args.bwlimit)
    if rate is None:
        raise SystemExit("--bwlimit must be a rate")
    total = args.bwlimit_mib * MIB
    files = 4
    with _pool(tmp, files, total) as pool:
        config = tmp / "sync-bwlimit.json"
        dest = tmp / "dest-bwlimit"
        dest.mkdir()
        _write_config(config, pool.base, pool.token, dest, args.parallel)
        command = [sys.executable, "-m", "pool_sync", "--config", str(config)]
        started = time.perf_counter()
        child = subprocess.run(
            [*command, "--bwlimit", args.bwlimit], capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - started
        if child.returncode != 0:
            raise RuntimeError(f"sync failed ({child.returncode}): {child.stderr[-2000:]}")
        synced = sum(p.stat().st_size for p in dest.rglob("master*.mxf"))
        if synced != pool.stored:
            raise RuntimeError(f"synced {synced} bytes of {pool.stored}")
    expected = pool.stored / rate
    ratio = elapsed / expected
    within = abs(ratio - 1) <= 0.15
    print(
        f"sync of {pool.stored / MIB:.0f} MiB with --bwlimit {args.bwlimit}: {elapsed:.2f} s, "
        f"expected {expected:.2f} s; ratio {ratio:.3f} (target 0.85-1.15: "
        f"{'ok' if within else 'OUT OF BAND'})"
    )
    return 0 if within else 1


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _get_http_client(url: str, into: Path) -> str:
    """Plain http.client: the socket's bytes read into one reused buffer."""
    parts = httpx.URL(url)
    connection = http.client.HTTPConnection(parts.host, parts.port, timeout=60)
    digest = hashlib.sha256()
    view = memoryview(bytearray(MIB))
    try:
        connection.request("GET", parts.raw_path.decode())
        response = connection.getresponse()
        with open(into, "wb") as handle:
            while count := response.readinto(view):
                handle.write(view[:count])
                digest.update(view[:count])
    finally:
        connection.close()
    return digest.hexdigest()


def _get_httpx(client: httpx.Client, url: str, into: Path, chunk: int | None) -> str:
    """httpx: streamed, raw (no decoding), in `chunk`-byte blocks (None: as received)."""
    digest = hashlib.sha256()
    with client.stream("GET", url) as response, open(into, "wb") as handle:
        for block in response.iter_raw(chunk):
            handle.write(block)
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, into: Path, size: int, sha256: str) -> str:
    """The sync's own download path (resume logic, fsync, atomic rename included)."""
    part = into.with_suffix(".part")
    fetch(url_for=lambda _offset: url, part=part, final=into, size=size, sha256=sha256)
    return sha256


def _http_stacks(args: argparse.Namespace, tmp: Path) -> int:
    """http.client against httpx on one large presigned download: MiB/s and CPU seconds."""
    size = args.http_mib * MIB
    seaweed = start_seaweed(tmp / "seaweed")
    try:
        storage = new_bucket_storage(seaweed)
        data = os.urandom(size)
        expected = hashlib.sha256(data).hexdigest()
        storage.client.upload_fileobj(
            io.BytesIO(data), storage.bucket, "big.bin", Config=TransferConfig()
        )
        del data
        url = storage.presigned_get("big.bin", expires_in=3600)
        into = tmp / "big.bin"
        best: dict[str, tuple[float, float]] = {}
        with httpx.Client(timeout=60) as client:
            readers = {
                "http.client": lambda: _get_http_client(url, into),
                "httpx": lambda: _get_httpx(client, url, into, MIB),
                "httpx as received": lambda: _get_httpx(client, url, into, None),
                "pool_sync fetch": lambda: _fetch(url, into, size, expected),
            }
            names = list(readers)
            for round_number in range(args.rounds):
                # A different one goes first each round: the first write of the file costs
                # more (page cache), and the machine's load drifts.
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    read = readers[name]
                    into.unlink(missing_ok=True)
                    wall, cpu = time.perf_counter(), _cpu()
                    if read() != expected:
                        raise RuntimeError(f"{name}: wrong bytes")
                    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
                    previous = best.get(name)
                    best[name] = (
                        (min(wall, previous[0]), min(cpu, previous[1]))
                        if previous
                        else (
                            wall,
                            cpu,
                        )
                    )
        for name, (wall, cpu) in best.items():
            print(
                f"{name:16s} {size / wall / MIB:8.1f} MiB/s  {cpu:6.2f} s CPU for {size // MIB} MiB"
            )
        (raw_wall, raw_cpu), (x_wall, x_cpu) = best["http.client"], best["httpx"]
        print(f"httpx / http.client throughput ratio: {raw_wall / x_wall:.2f}")
        print(f"httpx / http.client CPU ratio:        {x_cpu / raw_cpu:.2f}")
        recv_wall, recv_cpu = best["httpx as received"]
        print(f"httpx as received / http.client throughput ratio: {raw_wall / recv_wall:.2f}")
        print(f"httpx as received / http.client CPU ratio:        {recv_cpu / raw_cpu:.2f}")
    finally:
        seaweed.stop()
    return 0


def main() -> int:
    """Run the sync benchmark and print its ratios."""
    parser = argparse.ArgumentParser(prog="bench.sync")
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--total-mib", type=int, default=2048)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--part", choices=("all", "throughput", "bwlimit", "http"), default="all")
    parser.add_argument("--bwlimit", default="20M")
    parser.add_argument("--bwlimit-mib", type=int, default=256)
    parser.add_argument("--http-mib", type=int, default=512)
    args = parser.parse_args(sys.argv[1:])
    status = 0
    if args.part in ("all", "throughput"):
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp_name:
            status |= _throughput(args, Path(tmp_name))
    if args.part in ("all", "http"):
        with tempfile.TemporaryDirectory(prefix="bench-sync-http-") as tmp_name:
            status |= _http_stacks(args, Path(tmp_name))
    if args.part in ("all", "bwlimit"):
        with tempfile.TemporaryDirectory(prefix="bench-sync-bw-") as tmp_name:
            status |= _bwlimit(args, Path(tmp_name))
    return status


if __name__ == "__main__":
    sys.exit(main())

"""Fetch one object from a presigned URL: resume with Range, verify SHA-256, rename atomically.

A partial file keeps every byte received so far (a killed run loses nothing it wrote). On the
next attempt the existing bytes are hashed locally, the rest is fetched with
`Range: bytes=<have>-`, and only a file whose SHA-256 matches the published one is renamed
into place (same folder tree, so `os.replace` is atomic); a mismatch deletes the partial file
so the next attempt starts clean.

Presigned URLs are short-lived (the pool's `JOINTPOOL_DOWNLOAD_URL_SECONDS`), and storage
checks a URL when a request starts, not while it streams. So within one fetch:

- a connection that breaks after bringing bytes is resumed at once, with the same URL;
- a URL storage refuses (401/403: expired) is renewed: the API is asked again
  (`url_for(offset)`), and the fetch resumes from the bytes on disk. A renewed URL refused
  before it brought a byte fails the file; the API's own refusal (a revoked license) is
  raised by `url_for`.

A connection that breaks before bringing anything is the caller's to retry (with backoff).

One HTTP stack for the whole client: httpx, as for the API (proxies from `HTTP(S)_PROXY` and
`NO_PROXY`, redirects followed, one TLS setup). `python -m bench.sync --part http` measures it
against plain `http.client` (`readinto` a reused buffer, what this module used before) on a
512 MiB loopback download from SeaweedFS. On the shared, loaded 2-core test machine six runs
gave httpx 0.66x-1.40x the throughput and 0.74x-1.94x the CPU time (the first two favoured
http.client, the last four httpx): no stable difference beyond the noise. Either costs about
2 ms of CPU per MiB, a quarter of one core at 1 Gbit/s. The whole sync (`--part throughput`,
8 masters, 512 MiB, 4 at once, SeaweedFS on the same 2 cores) did 226-261 MiB/s on httpx
against 316-394 MiB/s on http.client: there, CPU-bound, httpx's per-read parsing shows. A
broadcaster's link, not the client's CPU, bounds a real sync; one stack that honours proxies
and redirects is worth that.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from pool_sync.bwlimit import RateLimiter
from pool_sync.errors import ChecksumMismatch, ItemError
from pool_sync.state import replace

__all__ = ["FetchResult", "RateLimiter", "fetch", "storage_client"]

USER_AGENT = "jointpool-sync/1"
HASH_READ = 8 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class FetchResult:
    """What one fetch did."""

    size: int
    fetched: int
    resumed_from: int


def _hash_existing(path: Path, length: int) -> hashlib._Hash:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        remaining = length
        while remaining:
            block = handle.read(min(HASH_READ, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def storage_client(timeout: float = 60.0) -> httpx.Client:
    """The client the downloads of a run share (it carries no API token: storage needs none)."""
    return httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT})


@dataclass
class _Received:
    """Where one fetch stands: bytes in the partial file, their hash, bytes fetched."""

    have: int
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    fetched: int = 0
    resumed_from: int = 0


class _Refused(Exception):
    """Storage refused the URL (401/403): expired, most likely."""


class _Interrupted(Exception):
    """The connection broke while streaming."""


def fetch(
    *,
    url_for: Callable[[int], str],
    part: Path,
    final: Path,
    size: int,
    sha256: str | None,
    timeout: float = 60.0,
    on_bytes: Callable[[int], None] | None = None,
    limiter: RateLimiter | None = None,
    client: httpx.Client | None = None,
) -> FetchResult:
    """Complete `part` from `url_for(offset)`, verify it and move it to `final`."""
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    digest = _hash_existing(part, have) if have else hashlib.sha256()
    got = _Received(have=have, digest=digest, resumed_from=have)
    part.parent.mkdir(parents=True, exist_ok=True)
    if got.have < size or not part.exists():
        with open(part, "r+b" if part.exists() else "wb") as handle:
            if got.have < size:
                http = client or storage_client(timeout)
                try:
                    _complete(http, url_for, handle, got, size, on_bytes, limiter)
                finally:
                    if client is None:
                        http.close()
            handle.flush()
            os.fsync(handle.fileno())
    if got.have != size:
        raise ItemError(f"transfer ended at byte {got.have} of {size}; will resume")
    actual = got.digest.hexdigest()
    if sha256 and actual != sha256.lower():
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(f"SHA-256 {actual} does not match the published {sha256}")
    final.parent.mkdir(parents=True, exist_ok=True)
    replace(part, final)  # os.replace, patient with Windows readers holding the old file
    _fsync_dir(final.parent)
    return FetchResult(size=size, fetched=got.fetched, resumed_from=got.resumed_from)


def _complete(
    client: httpx.Client,
    url_for: Callable[[int], str],
    handle: BinaryIO,
    got: _Received,
    size: int,
    on_bytes: Callable[[int], None] | None,
    limiter: RateLimiter | None,
) -> None:
    """Stream until the file is whole: resume broken connections, renew refused URLs."""
    url = url_for(got.have)
    fresh = True  # the URL was issued for this offset and has brought nothing yet
    while got.have < size:
        before = got.fetched
        try:
            _stream(client, url, handle, got, size, on_bytes, limiter)
        except _Refused as exc:
            if fresh:
                raise ItemError(f"storage refused a freshly issued URL ({exc})") from exc
            url, fresh = url_for(got.have), True  # expired: ask the API again, resume
            continue
        except _Interrupted as exc:
            if got.fetched == before:
                raise ItemError(f"transfer interrupted at byte {got.have}: {exc}") from exc
            fresh = False
            continue  # it brought bytes: resume at once (renewing the URL if refused)
        if got.fetched == before:
            raise ItemError(f"transfer ended at byte {got.have} of {size}; will resume")
        fresh = False


def _check_size(actual: int, expected: int, handle: BinaryIO) -> None:
    if actual != expected:
        handle.truncate(0)
        raise ChecksumMismatch(f"storage holds {actual} bytes but the catalog publishes {expected}")


def _stream(
    client: httpx.Client,
    url: str,
    handle: BinaryIO,
    got: _Received,
    size: int,
    on_bytes: Callable[[int], None] | None,
    limiter: RateLimiter | None,
) -> None:
    """GET from `got.have` onwards into the open file, updating `got` as bytes arrive."""
    headers = {"Range": f"bytes={got.have}-"} if got.have else {}
    try:
        with client.stream("GET", url, headers=headers) as response:
            _start(response, handle, got, size)
            handle.seek(got.have)
            handle.truncate()
            # Raw (the stored bytes, undecoded) and as the socket delivers them: re-chunking
            # into bigger blocks costs a copy (see the module's docstring).
            for block in response.iter_raw():
                handle.write(block)
                got.digest.update(block)
                got.fetched += len(block)
                got.have += len(block)
                if on_bytes is not None:
                    on_bytes(len(block))
                if limiter is not None:
                    limiter.take(len(block))
    except httpx.TransportError as exc:
        handle.flush()
        raise _Interrupted(str(exc) or type(exc).__name__) from exc


def _start(response: httpx.Response, handle: BinaryIO, got: _Received, size: int) -> None:
    """Check the answer's status and byte range before anything is written."""
    status = response.status_code
    if status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("content-range") or "")
        if not match or int(match.group(1)) != got.have:
            raise ItemError("storage answered a different byte range than asked")
        if match.group(3) != "*":
            _check_size(int(match.group(3)), size, handle)
    elif status == 200:
        length = response.headers.get("content-length")
        if length is not None:
            _check_size(int(length), size, handle)
        if got.have:
            # The server ignored Range: start over rather than append a second copy.
            got.have, got.digest, got.resumed_from = 0, hashlib.sha256(), 0
    elif status == 416:
        # The object is shorter than what we already have: it is not the master.
        handle.truncate(0)
        raise ChecksumMismatch("storage refused the resume offset: the object changed")
    elif status in (401, 403):
        raise _Refused(f"{status}; expired?")
    else:
        raise ItemError(f"storage answered {status}")

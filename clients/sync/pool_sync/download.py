"""Fetch one object from a presigned URL: resume with Range, verify SHA-256, rename atomically.

A partial file keeps every byte received so far (a killed run loses nothing it wrote). On the
next attempt the existing bytes are hashed locally, the rest is fetched with
`Range: bytes=<have>-`, and only a file whose SHA-256 matches the published one is renamed
into place (same folder tree, so `os.replace` is atomic); a mismatch deletes the partial file
so the next attempt starts clean.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from pool_sync.bwlimit import RateLimiter
from pool_sync.errors import ChecksumMismatch, ItemError
from pool_sync.state import replace

__all__ = ["FetchResult", "RateLimiter", "fetch"]

CHUNK = 1 << 20
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
    chunk_size: int = CHUNK,
) -> FetchResult:
    """Complete `part` from `url_for(offset)`, verify it and move it to `final`."""
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    digest = _hash_existing(part, have) if have else hashlib.sha256()
    resumed_from = have
    fetched = 0
    part.parent.mkdir(parents=True, exist_ok=True)
    if have < size or not part.exists():
        with open(part, "r+b" if part.exists() else "wb") as handle:
            if have < size:
                fetched, have, digest = _stream(
                    url_for(have),
                    handle=handle,
                    have=have,
                    size=size,
                    digest=digest,
                    timeout=timeout,
                    on_bytes=on_bytes,
                    limiter=limiter,
                    chunk_size=chunk_size,
                )
                resumed_from = min(resumed_from, have - fetched)
            handle.flush()
            os.fsync(handle.fileno())
    if have != size:
        raise ItemError(f"transfer ended at byte {have} of {size}; will resume")
    actual = digest.hexdigest()
    if sha256 and actual != sha256.lower():
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(f"SHA-256 {actual} does not match the published {sha256}")
    final.parent.mkdir(parents=True, exist_ok=True)
    replace(part, final)  # os.replace, patient with Windows readers holding the old file
    _fsync_dir(final.parent)
    return FetchResult(size=size, fetched=fetched, resumed_from=resumed_from)


def _check_size(actual: int, expected: int, handle: BinaryIO) -> None:
    if actual != expected:
        handle.truncate(0)
        raise ChecksumMismatch(f"storage holds {actual} bytes but the catalog publishes {expected}")


def _stream(
    url: str,
    *,
    handle: BinaryIO,
    have: int,
    size: int,
    digest: hashlib._Hash,
    timeout: float,
    on_bytes: Callable[[int], None] | None,
    limiter: RateLimiter | None,
    chunk_size: int,
) -> tuple[int, int, hashlib._Hash]:
    """GET from `have` onwards into the open file; return (fetched, new have, digest)."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    fetched = 0
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    # Plain http.client and `readinto` a reused buffer: the bytes go from the socket to the
    # file and the hash without the copies a higher-level client makes (measurably faster).
    buffer = bytearray(chunk_size)
    view = memoryview(buffer)
    try:
        connection.request(
            "GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers
        )
        response = connection.getresponse()
        status = response.status
        if status == 206:
            match = _CONTENT_RANGE.match(response.getheader("content-range") or "")
            if not match or int(match.group(1)) != have:
                raise ItemError("storage answered a different byte range than asked")
            if match.group(3) != "*":
                _check_size(int(match.group(3)), size, handle)
        elif status == 200:
            length = response.getheader("content-length")
            if length is not None:
                _check_size(int(length), size, handle)
            if have:
                # The server ignored Range: start over rather than append a second copy.
                have = 0
                digest = hashlib.sha256()
        elif status == 416:
            # The object is shorter than what we already have: it is not the master.
            handle.truncate(0)
            raise ChecksumMismatch("storage refused the resume offset: the object changed")
        elif status in (401, 403):
            raise ItemError(f"storage refused the URL ({status}; expired?)")
        else:
            raise ItemError(f"storage answered {status}")
        handle.seek(have)
        handle.truncate()
        while count := response.readinto(view):
            block = view[:count]
            handle.write(block)
            digest.update(block)
            fetched += count
            have += count
            if on_bytes is not None:
                on_bytes(count)
            if limiter is not None:
                limiter.take(count)
    except (http.client.HTTPException, OSError) as exc:
        handle.flush()
        raise ItemError(f"transfer interrupted at byte {have}: {exc}") from exc
    finally:
        connection.close()
    return fetched, have, digest

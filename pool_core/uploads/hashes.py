"""Running MD5 and SHA-256 whose state can be saved in the database and resumed anywhere.

hashlib objects cannot be serialised. OpenSSL's one-shot-free low-level API (`MD5_Init`,
`SHA256_Update`, ...) keeps the whole running state in a small, public, fixed-layout struct
(`MD5_CTX`, `SHA256_CTX`), so its bytes can be stored with the pending upload and loaded on
another node to continue exactly. The same libcrypto that backs hashlib does the work, with
the GIL released, so speed is hashlib's.

Where that API is missing (no libcrypto, a future OpenSSL without it, a self-test mismatch)
`available()` is False and callers fall back to hashlib, keeping the state only in process and
re-reading the object from S3 when a resume happens elsewhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import sys
import threading
import uuid
from collections import OrderedDict
from typing import Any, Protocol

# Sizes of the structs in <openssl/md5.h> and <openssl/sha.h> (unchanged since 0.9.8).
_CTX_SIZE = {"md5": 92, "sha256": 112}
# Serialised states carry this tag; a node with another layout re-reads instead.
STATE_FORMAT = f"openssl-ctx-1-{sys.byteorder}"

_lib: Any = None


class Hasher(Protocol):
    """A running hash: `CtxHash` (serialisable) or hashlib's MD5/SHA-256 (the fallback)."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        """Hash more bytes."""
        ...

    def copy(self) -> Hasher:
        """An independent copy of the running state."""
        ...

    def hexdigest(self) -> str:
        """The digest of everything so far."""
        ...


# A running (MD5, SHA-256) pair.
HashPair = tuple[Hasher, Hasher]


def _load() -> ctypes.CDLL | None:
    path = ctypes.util.find_library("crypto")
    if not path:
        return None
    try:
        lib = ctypes.CDLL(path)
        for name in ("MD5", "SHA256"):
            for suffix in ("_Init", "_Update", "_Final"):
                fn = getattr(lib, name + suffix)
                fn.restype = ctypes.c_int
        lib.MD5_Update.argtypes = lib.SHA256_Update.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
        ]
        lib.MD5_Init.argtypes = lib.SHA256_Init.argtypes = [ctypes.c_void_p]
        lib.MD5_Final.argtypes = lib.SHA256_Final.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


class CtxHash:
    """A running MD5 or SHA-256 with `update`, `copy`, `hexdigest` and `export`."""

    def __init__(self, name: str, state: bytes | None = None) -> None:
        self.name = name
        self._prefix = "MD5" if name == "md5" else "SHA256"
        self._ctx = ctypes.create_string_buffer(_CTX_SIZE[name] + 64)
        if state is None:
            getattr(_lib, self._prefix + "_Init")(self._ctx)
        else:
            if len(state) != _CTX_SIZE[name]:
                raise ValueError(f"a saved {name} state has {_CTX_SIZE[name]} bytes")
            ctypes.memmove(self._ctx, state, len(state))

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Hash more bytes."""
        view = memoryview(data).cast("B")
        if not view.nbytes:
            return
        if view.readonly:
            buffer: Any = ctypes.c_char_p(view.tobytes())
        else:
            buffer = (ctypes.c_char * view.nbytes).from_buffer(view)
        getattr(_lib, self._prefix + "_Update")(self._ctx, buffer, view.nbytes)

    def copy(self) -> CtxHash:
        """An independent copy of the running state."""
        return CtxHash(self.name, self.export())

    def export(self) -> bytes:
        """The running state as bytes, for `CtxHash(name, state)` on any node."""
        return self._ctx.raw[: _CTX_SIZE[self.name]]

    def hexdigest(self) -> str:
        """The digest of everything so far (the running state is left untouched)."""
        scratch = self.copy()
        out = ctypes.create_string_buffer(32)
        getattr(_lib, self._prefix + "_Final")(out, scratch._ctx)
        return out.raw[: 16 if self.name == "md5" else 32].hex()


def _self_test() -> bool:
    data = bytes(range(256)) * 1000 + b"tail"
    for name in ("md5", "sha256"):
        first = CtxHash(name)
        first.update(data[:70_001])
        resumed = CtxHash(name, first.export())
        resumed.update(bytearray(data[70_001:]))
        if resumed.hexdigest() != hashlib.new(name, data).hexdigest():
            return False
    return True


def available() -> bool:
    """Whether serialisable hashing works in this process."""
    global _lib
    if _lib is None:
        _lib = _load() or False
        if _lib and not _self_test():
            _lib = False
    return bool(_lib)


def new_pair() -> HashPair:
    """Fresh MD5 and SHA-256 hashers (serialisable when possible, else hashlib)."""
    if available():
        return CtxHash("md5"), CtxHash("sha256")
    return hashlib.md5(usedforsecurity=False), hashlib.sha256()


def export_pair(hashes: HashPair, size: int) -> dict[str, Any]:
    """The JSON-able saved state of a pair at `size` bytes ({} if not serialisable)."""
    md5, sha = hashes
    if not (isinstance(md5, CtxHash) and isinstance(sha, CtxHash)):
        return {}
    return {
        "format": STATE_FORMAT,
        "size": size,
        "md5": md5.export().hex(),
        "sha256": sha.export().hex(),
    }


def import_pair(state: dict[str, Any], size: int) -> HashPair | None:
    """Hashers restored from `export_pair` output, or None if unusable at this size."""
    if not state or state.get("format") != STATE_FORMAT or state.get("size") != size:
        return None
    if not available():
        return None
    try:
        return (
            CtxHash("md5", bytes.fromhex(state["md5"])),
            CtxHash("sha256", bytes.fromhex(state["sha256"])),
        )
    except (KeyError, ValueError, TypeError):
        return None


# Interrupted uploads whose running hashes this process keeps in memory, at most.
_CACHE_LIMIT = 4096


def complete_key(object_key: str) -> uuid.UUID:
    """The hash cache's key for the finished object `object_key`."""
    return uuid.uuid5(uuid.NAMESPACE_URL, object_key)


class _HashCache:
    """Running hashes of interrupted uploads, per process: (committed size, md5, sha256)."""

    def __init__(self) -> None:
        self._items: OrderedDict[uuid.UUID, tuple[int, Hasher, Hasher]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, upload_id: uuid.UUID, size: int, md5: Hasher, sha: Hasher) -> None:
        with self._lock:
            self._items[upload_id] = (size, md5.copy(), sha.copy())
            self._items.move_to_end(upload_id)
            while len(self._items) > _CACHE_LIMIT:
                self._items.popitem(last=False)

    def take(self, upload_id: uuid.UUID, size: int) -> HashPair | None:
        with self._lock:
            item = self._items.get(upload_id)
        if item is None or item[0] != size:
            return None
        return item[1].copy(), item[2].copy()

    def forget(self, upload_id: uuid.UUID) -> None:
        with self._lock:
            self._items.pop(upload_id, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


HASH_CACHE = _HashCache()

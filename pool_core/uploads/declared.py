"""A master's declared size and hash (sidecar `size`/`sha256`/`md5`, or a `.md5` file) enforced.

JSON sidecars name them directly; EBUCore maps `format/fileSize` and `format/hash`, CSV
manifests the `size`, `sha256` and `md5` columns (see `pool_core.sidecars`).

A master that is shorter or different from what its delivery declares is `failed` with a
reason a person can act on (`incomplete: got N of M bytes`, `checksum mismatch: ...`) and
is never transcoded to `ready`. The check runs whenever a master and its sidecar meet:
when the master completes with the sidecar already there, or when the sidecar arrives.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from pool_core.catalog.assets import mark_asset_failed
from pool_core.errors import StorageError
from pool_core.models import Asset, AssetStatus
from pool_core.sidecars import parse_sidecar
from pool_core.sidecars.decoding import MAX_SIDECAR_BYTES, SidecarError
from pool_core.storage.base import ObjectStorage

# Failure reasons that mean the master itself is wrong: no transcode may make it ready.
REJECTED_PREFIXES = ("incomplete:", "size mismatch:", "checksum mismatch")


def is_rejected(asset: Asset) -> bool:
    """Whether the asset failed its declared size or hash (so it must stay failed)."""
    return asset.status is AssetStatus.FAILED and (asset.failure_reason or "").startswith(
        REJECTED_PREFIXES
    )


def mismatch(
    asset: Asset, *, size: int | None, sha256: str | None, md5: str | None = None
) -> str | None:
    """The failure reason if the asset differs from a declared size or hash, else None."""
    if size is not None and asset.size < size:
        return f"incomplete: got {asset.size} of {size} bytes"
    if size is not None and asset.size != size:
        return f"size mismatch: got {asset.size} bytes, the sidecar declares {size}"
    if sha256 is not None and sha256.lower() != (asset.sha256 or "").lower():
        return (
            f"checksum mismatch: SHA-256 is {asset.sha256}, the sidecar declares {sha256.lower()}"
        )
    if md5 is not None and md5.lower() != (asset.md5 or "").lower():
        return f"checksum mismatch: MD5 is {asset.md5}, the sidecar declares {md5.lower()}"
    return None


def reject(session: Session, asset: Asset, reason: str) -> None:
    """Fail the asset for good with `reason` (and say so in the change feed)."""
    if is_rejected(asset):
        return
    mark_asset_failed(session, asset, reason)
    session.flush()


def check_metadata_sidecar(
    session: Session, storage: ObjectStorage, asset: Asset, sidecar_key: str | None, name: str
) -> None:
    """Fail the asset if its metadata sidecar declares another size, SHA-256 or MD5."""
    if sidecar_key is None:
        return
    try:
        data = storage.get(sidecar_key, start=0, end=MAX_SIDECAR_BYTES)
        declared = parse_sidecar(name, data, master_filename=asset.filename)
    except (StorageError, SidecarError):
        return  # the catalog's sidecar job reports an unreadable sidecar
    reason = mismatch(asset, size=declared.size, sha256=declared.sha256, md5=declared.md5)
    if reason is not None:
        reject(session, asset, reason)

"""What happens when an upload completes: entry, asset, transcode job, sidecars (decision 4).

All of it is added to the caller's unit of work, so the file entry, the asset, its jobs and
change events become visible together or not at all.

- A master (a media file by extension, non-empty) becomes a new `Asset` (status `received`;
  version n+1 when a master already arrived at that path) with a `transcode` job and an
  `asset.received` change event.
- A sidecar with the master's base name (`ep01.json` or `ep01.mxf.json`; `.json`, `.xml`,
  `.csv`) is stored as a plain file and linked (`Asset.sidecar_key`), and an
  `ingest_sidecar` job is queued for the catalog; whichever arrives first, the link is made
  when both exist.
- A subtitle file named for the master and a language (`ep01.kk-Cyrl.srt`, see
  `pool_core.subtitles.naming`) is stored as a plain file, and an `ingest_subtitle` job is
  queued for each master it belongs to, whichever arrives first.
- A `.md5` sidecar is compared with the master's MD5; a mismatch (or an unreadable file)
  appends a readable message to `Asset.ingest_warnings` and records `asset.ingest_warning`.
- Everything else, and every zero-byte file, is a plain file without asset.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pool_core.errors import StorageError
from pool_core.files.tree import get_entry, put_file_entry
from pool_core.models import Asset, AssetStatus, FileEntry
from pool_core.names import MASTER_EXTENSIONS, split_path
from pool_core.queue import enqueue
from pool_core.services.changes import record_change
from pool_core.services.subtitles import SUBTITLE_JOB
from pool_core.storage.base import ObjectStorage
from pool_core.subtitles.naming import parse_subtitle_name
from pool_core.uploads.declared import check_metadata_sidecar, reject
from pool_core.uploads.settle import (
    announce,
    get_unsettled,
    queue_settle,
    settle_time,
    settles_at,
    supersede,
)

# In order of preference when a master has several.
METADATA_SIDECAR_EXTENSIONS = ("json", "xml", "csv")
CHECKSUM_SIDECAR_EXTENSION = "md5"
_SIDECAR_ORDER = (*METADATA_SIDECAR_EXTENSIONS, CHECKSUM_SIDECAR_EXTENSION)
TRANSCODE_JOB = "transcode"
SIDECAR_JOB = "ingest_sidecar"
# A checksum file larger than this is not a checksum file.
MAX_MD5_SIDECAR_BYTES = 64 * 1024

_MD5_GNU = re.compile(r"^\s*\\?([0-9a-fA-F]{32})\s+\*?(.*?)\s*$")
_MD5_BSD = re.compile(r"^\s*MD5\s*\((.*)\)\s*=\s*([0-9a-fA-F]{32})\s*$")


def extension(name: str) -> str:
    """The lower-case extension of a file name, without the dot ('' if none)."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def stem(name: str) -> str:
    """The name without its last extension."""
    base, dot, _ = name.rpartition(".")
    return base if dot and base else name


def is_master(name: str) -> bool:
    """Whether a file name is a media master that becomes an asset."""
    return extension(name) in MASTER_EXTENSIONS


def sidecar_kind(name: str) -> str | None:
    """'metadata', 'md5' or None for a file name."""
    ext = extension(name)
    if ext in METADATA_SIDECAR_EXTENSIONS:
        return "metadata"
    if ext == CHECKSUM_SIDECAR_EXTENSION:
        return "md5"
    return None


def _belongs_to(sidecar_name: str, master_name: str) -> bool:
    base = stem(sidecar_name)
    return base in (master_name, stem(master_name))


def complete_upload(
    session: Session,
    storage: ObjectStorage,
    *,
    org_id: int,
    user_id: int | None,
    path: str,
    object_key: str | None,
    size: int,
    md5: str,
    sha256: str,
    asset_id: uuid.UUID | None = None,
    content: bytes | None = None,
    settle_seconds: float = 0,
) -> FileEntry:
    """Publish a completed upload: entry, and for masters asset + job + event, sidecars.

    `settle_seconds` > 0 defers what announces a master (see `pool_core.uploads.settle`).
    """
    _, name = split_path(path)
    if size == 0 or object_key is None:
        return put_file_entry(
            session,
            org_id=org_id,
            path=path,
            size=0,
            object_key=None,
            md5=md5,
            sha256=sha256,
            asset_id=None,
        )
    if is_master(name):
        return _complete_master(
            session,
            storage,
            org_id=org_id,
            user_id=user_id,
            path=path,
            object_key=object_key,
            size=size,
            md5=md5,
            sha256=sha256,
            asset_id=asset_id or uuid.uuid4(),
            settle_seconds=settle_seconds,
        )
    entry = put_file_entry(
        session,
        org_id=org_id,
        path=path,
        size=size,
        object_key=object_key,
        md5=md5,
        sha256=sha256,
        asset_id=None,
    )
    if parse_subtitle_name(name) is not None:
        for master in _masters_for(session, org_id, entry):
            if master.asset_id is not None:
                _queue_subtitle(session, org_id, master.asset_id, path, user_id=user_id)
    elif sidecar_kind(name) is not None:
        for master in _masters_for(session, org_id, entry):
            asset = session.get(Asset, master.asset_id)
            if asset is not None:
                _attach_sidecar(
                    session, storage, asset, master, entry, content=content,
                    run_after=settle_time(session, asset=asset),
                )  # fmt: skip
    return entry


def _complete_master(
    session: Session,
    storage: ObjectStorage,
    *,
    org_id: int,
    user_id: int | None,
    path: str,
    object_key: str,
    size: int,
    md5: str,
    sha256: str,
    asset_id: uuid.UUID,
    settle_seconds: float,
) -> FileEntry:
    _, name = split_path(path)
    current = get_entry(session, org_id=org_id, path=path)
    # An unsettled version at this path (a continuation, or a quick re-upload) is replaced,
    # not followed by a new version: one settled master, one asset.
    replaced = get_unsettled(session, asset_id=current.asset_id if current else None)
    versions = select(func.max(Asset.version)).where(
        Asset.org_id == org_id, Asset.source_path == path
    )
    if replaced is not None:
        versions = versions.where(Asset.id != replaced.id)
    previous = session.scalar(versions)
    asset = Asset(
        id=asset_id,
        org_id=org_id,
        uploaded_by=user_id,
        filename=name,
        source_path=path,
        object_key=object_key,
        version=(previous or 0) + 1,
        size=size,
        md5=md5,
        sha256=sha256,
        status=AssetStatus.RECEIVED,
        ingest_warnings=[],
    )
    session.add(asset)
    session.flush()
    entry = put_file_entry(
        session,
        org_id=org_id,
        path=path,
        size=size,
        object_key=object_key,
        md5=md5,
        sha256=sha256,
        asset_id=asset.id,
    )
    if replaced is not None:
        supersede(session, asset=replaced)
    # The transcode starts at once, so screening never waits for the window.
    enqueue(session, kind=TRANSCODE_JOB, payload={"asset_id": str(asset.id)}, org_id=org_id)
    run_after = settles_at(settle_seconds)
    if run_after is None:
        announce(session, asset)
    else:
        queue_settle(session, asset=asset, run_after=run_after)
    sidecars = [
        s
        for s in _siblings(session, org_id, entry)
        if sidecar_kind(s.name) is not None and _belongs_to(s.name, name)
    ]
    # The most specific sidecar wins (`ep01.mxf.json` over `ep01.json`), then by extension.
    sidecars.sort(key=lambda s: (stem(s.name) != name, _SIDECAR_ORDER.index(extension(s.name))))
    linked_metadata = False
    for sidecar in sidecars:
        kind = sidecar_kind(sidecar.name)
        if kind == "metadata" and linked_metadata:
            continue
        linked_metadata = linked_metadata or kind == "metadata"
        _attach_sidecar(session, storage, asset, entry, sidecar, content=None, run_after=run_after)
    folder = path.rsplit("/", 1)[0]
    for sibling in _siblings(session, org_id, entry):
        named = parse_subtitle_name(sibling.name)
        if named is not None and named.belongs_to(name):
            _queue_subtitle(session, org_id, asset.id, f"{folder}/{sibling.name}", user_id=None)
    return entry


def _queue_subtitle(
    session: Session, org_id: int, asset_id: uuid.UUID, path: str, *, user_id: int | None
) -> None:
    # Not held for the settle window: a track is only seen where its master is.
    enqueue(
        session,
        kind=SUBTITLE_JOB,
        payload={"asset_id": str(asset_id), "path": path, "user_id": user_id},
        org_id=org_id,
    )


def _siblings(session: Session, org_id: int, entry: FileEntry) -> list[FileEntry]:
    rows = session.scalars(
        select(FileEntry).where(
            FileEntry.org_id == org_id,
            FileEntry.parent_id == entry.parent_id,
            FileEntry.id != entry.id,
            FileEntry.is_dir.is_(False),
        )
    )
    return [
        r
        for r in rows
        if sidecar_kind(r.name) is not None
        or r.asset_id is not None
        or parse_subtitle_name(r.name) is not None
    ]


def _masters_for(session: Session, org_id: int, sidecar: FileEntry) -> list[FileEntry]:
    subtitle = parse_subtitle_name(sidecar.name)
    return [
        s
        for s in _siblings(session, org_id, sidecar)
        if s.asset_id is not None
        and is_master(s.name)
        and (subtitle.belongs_to(s.name) if subtitle else _belongs_to(sidecar.name, s.name))
    ]


def _attach_sidecar(
    session: Session,
    storage: ObjectStorage,
    asset: Asset,
    master: FileEntry,
    sidecar: FileEntry,
    *,
    content: bytes | None,
    run_after: datetime | None,
) -> None:
    kind = sidecar_kind(sidecar.name)
    if kind == "metadata":
        asset.sidecar_key = sidecar.object_key
        session.flush()
        # The catalog (a title, seen by other members) waits for the master to settle.
        enqueue(
            session,
            kind=SIDECAR_JOB,
            payload={"asset_id": str(asset.id)},
            org_id=asset.org_id,
            run_after=run_after,
        )
        record_change(
            session,
            org_id=asset.org_id,
            kind="asset.sidecar_linked",
            subject_type="asset",
            subject_id=str(asset.id),
            data={"sidecar": sidecar.name, "master": master.name},
        )
        check_metadata_sidecar(session, storage, asset, sidecar.object_key, sidecar.name)
    elif kind == "md5":
        _check_md5_sidecar(session, storage, asset, master, sidecar, content=content)


def _read_small(storage: ObjectStorage, key: str | None) -> bytes | None:
    if key is None:
        return b""
    try:
        return storage.get(key, start=0, end=MAX_MD5_SIDECAR_BYTES - 1)
    except StorageError:
        return None


def expected_md5(text: str, master_name: str) -> str | None:
    """The MD5 a checksum file gives for `master_name` (md5sum or BSD style, or bare)."""
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        gnu = _MD5_GNU.match(line)
        if gnu:
            found.append((gnu.group(1).lower(), gnu.group(2)))
            continue
        bsd = _MD5_BSD.match(line)
        if bsd:
            found.append((bsd.group(2).lower(), bsd.group(1)))
            continue
        bare = re.fullmatch(r"\s*([0-9a-fA-F]{32})\s*", line)
        if bare:
            found.append((bare.group(1).lower(), ""))
    for digest, name in found:
        if name and name.rsplit("/", 1)[-1] == master_name:
            return digest
    return found[0][0] if len(found) == 1 else None


def _check_md5_sidecar(
    session: Session,
    storage: ObjectStorage,
    asset: Asset,
    master: FileEntry,
    sidecar: FileEntry,
    *,
    content: bytes | None,
) -> None:
    data = content if content is not None else _read_small(storage, sidecar.object_key)
    if data is None:
        warning = f"{sidecar.name}: could not be read to check the MD5 of {master.name}"
    else:
        digest = expected_md5(data[:MAX_MD5_SIDECAR_BYTES].decode("utf-8", "replace"), master.name)
        if digest is None:
            warning = f"{sidecar.name}: no MD5 checksum for {master.name} found in the file"
        elif digest == (asset.md5 or "").lower():
            return
        else:
            warning = (
                f"MD5 mismatch: {sidecar.name} says {digest} but the received {master.name} "
                f"has {asset.md5}; the file may be damaged or the checksum stale"
            )
            reject(session, asset, f"checksum mismatch: {warning}")
    # A new list, so the JSON column is seen as changed.
    asset.ingest_warnings = [*(asset.ingest_warnings or []), warning]
    session.flush()
    record_change(
        session,
        org_id=asset.org_id,
        kind="asset.ingest_warning",
        subject_type="asset",
        subject_id=str(asset.id),
        data={"warning": warning, "sidecar": sidecar.name},
    )


def master_object_key(org_id: int, asset_id: uuid.UUID, name: str) -> str:
    """The immutable key of a master: `masters/<org>/<asset-id>/<original-filename>`."""
    return f"masters/{org_id}/{asset_id}/{name}"


def get_master_entry(session: Session, *, org_id: int, path: str) -> FileEntry | None:
    """The entry at `path` if it is a master with an asset."""
    entry = get_entry(session, org_id=org_id, path=path)
    return entry if entry is not None and entry.asset_id is not None else None

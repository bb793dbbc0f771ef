"""The read-only FTP `/licensed/<owner>/<title>/…` view, built from the entitlements.

Computed from the current entitlements on every call, so a revocation or expiry removes a file
at once.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from pool_core.errors import InvalidInput, NotFound
from pool_core.files.views import FileView
from pool_core.licensing.entitlements import (
    downloadable_renditions,
    licensed_assets_for,
    rendition_file_name,
    rendition_sha256,
    subtitle_file_name,
    subtitle_files,
)
from pool_core.models import (
    FileState,
    utcnow,
)
from pool_core.names import LICENSED_ROOT


@dataclass(frozen=True)
class LicensedFile:
    """One read-only file of the FTP `/licensed` view."""

    path: str
    size: int
    mtime: datetime
    object_key: str
    sha256: str | None
    asset_id: uuid.UUID
    license_id: int
    # None for the master; "proxy" or "poster" for a rendition beside it, a subtitle
    # file's kind (`kk-Cyrl`, `kk-Cyrl.original`) for subtitles.
    rendition: str | None = None
    subtitles: bool = False


def licensed_tree(
    session: Session, *, org_id: int, now: datetime | None = None
) -> list[LicensedFile]:
    """Return the files of the organization's read-only FTP `/licensed` view.

    Each licensed master, and beside it its proxy and poster when it has them and its
    subtitles (WebVTT and original), named as the sync names them (`<master>.proxy.mp4`,
    `<master>.poster.jpg`, `<master>.kk-Cyrl.vtt`, `<master>.kk-Cyrl.original.stl`).
    """
    files: list[LicensedFile] = []
    for item in licensed_assets_for(session, org_id=org_id, now=now):
        asset = item.asset
        files.append(
            LicensedFile(
                path=item.path,
                size=asset.size,
                mtime=asset.created_at,
                object_key=asset.object_key,
                sha256=asset.sha256,
                asset_id=asset.id,
                license_id=item.license.id,
            )
        )
        for rendition in downloadable_renditions(asset):
            files.append(
                LicensedFile(
                    path=rendition_file_name(item.path, rendition),
                    size=rendition.size,
                    mtime=rendition.created_at,
                    object_key=rendition.object_key,
                    sha256=rendition_sha256(rendition),
                    asset_id=asset.id,
                    license_id=item.license.id,
                    rendition=rendition.kind,
                )
            )
        for subtitle in subtitle_files(asset):
            files.append(
                LicensedFile(
                    path=subtitle_file_name(item.path, subtitle),
                    size=subtitle.size,
                    mtime=subtitle.created_at,
                    object_key=subtitle.object_key,
                    sha256=subtitle.sha256,
                    asset_id=asset.id,
                    license_id=item.license.id,
                    rendition=subtitle.kind,
                    subtitles=True,
                )
            )
    return files


def _under_licensed(path: str) -> str:
    path = "/" + "/".join(p for p in unicodedata.normalize("NFC", path).split("/") if p)
    if path != LICENSED_ROOT and not path.startswith(LICENSED_ROOT + "/"):
        raise NotFound(f"{path} is not under {LICENSED_ROOT}")
    return path


def _file_view(path: str, *, is_dir: bool, item: LicensedFile | None, mtime: datetime) -> FileView:
    return FileView(
        path=path,
        name=path.rsplit("/", 1)[-1],
        is_dir=is_dir,
        size=item.size if item else 0,
        mtime=mtime,
        md5=None,
        sha256=item.sha256 if item else None,
        state=FileState.COMPLETE,
        writable=False,
        asset_id=item.asset_id if item else None,
        unique=_licensed_unique(path, item),
    )


def _licensed_unique(path: str, item: LicensedFile | None) -> str:
    # A licensed master is its asset; a folder exists only as a path prefix, so a hash of
    # the path is its only stable identity (hex: no spaces or `;` whatever the title is).
    if item is not None:
        kind = f".{item.rendition}" if item.rendition else ""
        return f"a{item.asset_id.hex}{kind}"
    return "l" + hashlib.sha256(path.encode("utf-8")).hexdigest()[:32]


def licensed_file(session: Session, *, org_id: int, path: str) -> LicensedFile:
    """Return the licensed master or rendition at a `/licensed/...` path (`NotFound` if none)."""
    path = _under_licensed(path)
    for item in licensed_tree(session, org_id=org_id):
        if item.path == path:
            return item
    raise NotFound(f"no licensed file {path}")


def licensed_stat(session: Session, *, org_id: int, path: str) -> FileView:
    """Describe a `/licensed` file or folder as a read-only `FileView`."""
    path = _under_licensed(path)
    tree = licensed_tree(session, org_id=org_id)
    newest = max((f.mtime for f in tree), default=utcnow())
    if path == LICENSED_ROOT:
        return _file_view(path, is_dir=True, item=None, mtime=newest)
    below = [item for item in tree if item.path.startswith(path + "/")]
    if below:
        # A folder is as new as the newest file in it, the same in stat and listings.
        return _file_view(path, is_dir=True, item=None, mtime=max(f.mtime for f in below))
    for item in tree:
        if item.path == path:
            return _file_view(path, is_dir=False, item=item, mtime=item.mtime)
    raise NotFound(f"no such file or folder {path}")


def licensed_list_dir(session: Session, *, org_id: int, path: str) -> list[FileView]:
    """List a `/licensed` folder as read-only `FileView`s, sorted by name."""
    path = _under_licensed(path)
    tree = licensed_tree(session, org_id=org_id)
    children: dict[str, FileView] = {}
    prefix = path + "/"
    for item in tree:
        if item.path == path:
            raise InvalidInput(f"{path} is a file, not a folder")
        if not item.path.startswith(prefix):
            continue
        name = item.path[len(prefix) :].split("/", 1)[0]
        child = prefix + name
        if child == item.path:
            children[name] = _file_view(child, is_dir=False, item=item, mtime=item.mtime)
        elif name not in children or children[name].mtime < item.mtime:
            children[name] = _file_view(child, is_dir=True, item=None, mtime=item.mtime)
    if not children and path != LICENSED_ROOT:
        raise NotFound(f"no such folder {path}")
    return [children[name] for name in sorted(children)]

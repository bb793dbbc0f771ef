"""The one door bytes leave by: `open_download` checks the right to read and logs the delivery.

FTP `RETR` (a virtual path), the API download (an asset id, perhaps a rendition) and so the
nightly sync all come here, so they cannot disagree about who may read what: own files are
the organization's own tree; everything else goes through `licensing.entitlements`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from pool_core.catalog.rules import normalize_language
from pool_core.common.actor import Actor
from pool_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from pool_core.files import licensed, tree
from pool_core.licensing.deliveries import record_delivery
from pool_core.licensing.entitlements import (
    DOWNLOADABLE_RENDITIONS,
    entitlement,
    get_downloadable_rendition,
    rendition_sha256,
    subtitle_files,
)
from pool_core.models import Asset, FileState, License
from pool_core.names import LICENSED_ROOT, resolve_path
from pool_core.ops import metrics
from pool_core.ops.exposition import enabled as metrics_enabled


class OffsetPastEnd(InvalidInput):
    """A resume offset beyond the end of the file (FTP answers 554)."""

    def __init__(self, offset: int, size: int) -> None:
        super().__init__(f"REST position ({offset}) is past the end of the file ({size})")
        self.offset = offset
        self.size = size


@dataclass(frozen=True)
class Grant:
    """What a download may read, and the license it is delivered under (None: own file)."""

    object_key: str | None  # None for an empty file (nothing stored)
    size: int
    filename: str
    sha256: str | None
    asset_id: uuid.UUID | None
    license: License | None
    rendition: str | None = None
    # A subtitle file (its `rendition` is its kind, e.g. `kk-Cyrl` or `kk-Cyrl.original`).
    subtitles: bool = False


def open_download(
    session: Session,
    *,
    actor: Actor,
    target: uuid.UUID | str,
    rendition: str | None = None,
    offset: int = 0,
) -> Grant:
    """Check that the actor's organization may read `target` now, and log the delivery.

    `target` is an asset id (the API; `rendition` then picks its proxy or poster) or a
    virtual path (FTP: a file of the organization's own tree, or one under `/licensed`).
    A licensed read is logged against its license with the actor's channel
    (`ftp` or `api`, the sync being an API client; `:<rendition>` appended for a rendition,
    `:subtitles` for a subtitle file), resumes included.
    """
    if isinstance(target, uuid.UUID):
        grant = _asset_grant(session, org_id=actor.org_id, asset_id=target, rendition=rendition)
    else:
        grant = _path_grant(session, org_id=actor.org_id, path=target)
    if offset > grant.size:
        raise OffsetPastEnd(offset, grant.size)
    # Subtitle files are logged as `<door>:subtitles` (their kinds are languages: many, long).
    extra = "subtitles" if grant.subtitles else grant.rendition
    channel = f"{actor.channel}:{extra}" if extra else actor.channel
    if metrics_enabled():
        # Every grant counts, own files included: this is the one place they are made.
        metrics.downloads.labels(channel=channel).inc()
    if grant.license is not None and grant.asset_id is not None:
        record_delivery(
            session,
            license_id=grant.license.id,
            asset_id=grant.asset_id,
            org_id=actor.org_id,
            user_id=actor.user_id,
            channel=channel,
            offset=offset,
            remote_addr=actor.remote_addr,
        )
    return grant


def _asset_grant(
    session: Session, *, org_id: int, asset_id: uuid.UUID, rendition: str | None
) -> Grant:
    allowed = entitlement(session, org_id=org_id, asset_id=asset_id)
    if allowed is None:
        asset = session.get(Asset, asset_id)
        if asset is None:
            raise NotFound(f"no asset {asset_id}")
        if asset.purged_at is not None and asset.org_id == org_id:
            raise NotFound(f"asset {asset_id} was deleted; its bytes were purged")
        raise PermissionDenied(f"your organization holds no current license for asset {asset_id}")
    asset = allowed.asset
    if rendition is None:
        return Grant(
            object_key=asset.object_key,
            size=asset.size,
            filename=asset.filename,
            sha256=asset.sha256,
            asset_id=asset.id,
            license=allowed.license,
        )
    if rendition not in DOWNLOADABLE_RENDITIONS and _is_subtitle_kind(rendition):
        files = subtitle_files(asset)
        subtitle = next((f for f in files if f.kind == rendition), None)
        if subtitle is None:
            kinds = ", ".join([*DOWNLOADABLE_RENDITIONS, *(f.kind for f in files)])
            raise NotFound(
                f"asset {asset.id} has no {rendition} subtitles; ask for one of {kinds} "
                "(proxy and poster once transcoded; subtitle kinds as /v1/licensed-assets lists)"
            )
        return Grant(
            object_key=subtitle.object_key,
            size=subtitle.size,
            filename=subtitle.name,
            sha256=subtitle.sha256,
            asset_id=asset.id,
            license=allowed.license,
            rendition=subtitle.kind,
            subtitles=True,
        )
    picked = get_downloadable_rendition(asset, kind=rendition)
    return Grant(
        object_key=picked.object_key,
        size=picked.size,
        filename=picked.name,
        # Null for renditions made before the transcoder recorded hashes: size only, then.
        sha256=rendition_sha256(picked),
        asset_id=asset.id,
        license=allowed.license,
        rendition=picked.kind,
    )


def _is_subtitle_kind(kind: str) -> bool:
    """`kk-Cyrl` or `kk-Cyrl.original`: a language tag, perhaps marked as the original."""
    try:
        normalize_language(kind.removesuffix(".original"))
    except InvalidInput:
        return False
    return True


def _path_grant(session: Session, *, org_id: int, path: str) -> Grant:
    path = resolve_path("/", path)
    if path.startswith(LICENSED_ROOT + "/"):
        return _licensed_grant(session, org_id=org_id, path=path)
    entry = tree.get_entry(session, org_id=org_id, path=path)
    if path == "/" or (entry is not None and entry.is_dir):
        raise NotFound(f"{path} is a folder")
    if entry is None:
        if tree.get_pending(session, org_id=org_id, path=path) is not None:
            raise Conflict(f"{path} is still being uploaded")
        raise NotFound(f"{path} does not exist")
    if entry.state != FileState.COMPLETE:
        raise Conflict(f"{path} is still being uploaded")
    return Grant(
        object_key=entry.object_key,
        size=entry.size,
        filename=entry.name,
        sha256=entry.sha256,
        asset_id=entry.asset_id,
        license=None,
    )


def _licensed_grant(session: Session, *, org_id: int, path: str) -> Grant:
    try:
        item = licensed.licensed_file(session, org_id=org_id, path=path)
    except NotFound:
        if licensed.licensed_stat(session, org_id=org_id, path=path).is_dir:
            raise NotFound(f"{path} is a folder") from None
        raise
    # The tree is `licensed_assets_for`, the entitlement rule itself: its item names the
    # license (asking `entitlement()` again would build the same answer a second time).
    license_ = session.get(License, item.license_id)
    if license_ is None:
        raise NotFound(f"no licensed file {path}")
    return Grant(
        object_key=item.object_key,
        size=item.size,
        filename=path.rsplit("/", 1)[-1],
        sha256=item.sha256,
        asset_id=item.asset_id,
        license=license_,
        rendition=item.rendition,
        subtitles=item.subtitles,
    )

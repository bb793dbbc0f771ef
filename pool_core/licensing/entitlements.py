"""Entitlements: which masters an organization may download now, and under which license.

A licensee may reach a master only through an *effective* license: status active and now
inside [starts_at, ends_at).

Screening is a different right, on purpose: an editor of any member may watch the proxy of a
published title before licensing it, through a short-lived screening URL that is logged
(`catalog.assets.screen_asset`). Keeping bytes (a master, or the proxy or poster as files)
needs an entitlement.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from pool_core.errors import InvalidInput, NotFound
from pool_core.models import (
    Asset,
    AssetCatalog,
    AssetStatus,
    Episode,
    License,
    LicenseStatus,
    Organization,
    Rendition,
    Title,
    utcnow,
)
from pool_core.names import LICENSED_ROOT, portable_name

# Renditions a licensee may download beside a master (the nightly sync's optional extras).
DownloadableRendition = Literal["proxy", "poster"]
DOWNLOADABLE_RENDITIONS: tuple[str, ...] = get_args(DownloadableRendition)
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}")


@dataclass(frozen=True)
class LicensedAsset:
    """A master an organization may download, and the license that allows it."""

    asset: Asset
    license: License
    title: Title
    episode: Episode | None
    owner_code: str
    # Path inside the licensee's virtual tree, e.g. `/licensed/aztv/Title/S01E02/ep2.mxf`.
    path: str


# --- entitlements ------------------------------------------------------------------------------


def effective_licenses(
    session: Session, *, org_id: int, now: datetime | None = None
) -> list[License]:
    """Return the licenses the organization may use right now."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(License)
            .where(
                License.licensee_org_id == org_id,
                License.status == LicenseStatus.ACTIVE,
                License.starts_at <= now,
                License.ends_at > now,
            )
            .order_by(License.id)
        )
    )


def _safe_component(text: str, fallback: str) -> str:
    # Path components of the virtual tree: NFC, no separators or control characters, and
    # portable (a Windows mirror made by lftp or rclone stores them as given).
    cleaned = "".join(
        "_" if ch in "/\\" or unicodedata.category(ch).startswith("C") else ch
        for ch in unicodedata.normalize("NFC", text)
    ).strip(" .")
    cleaned = portable_name(cleaned) if cleaned else ""
    while len(cleaned.encode()) > 200:
        cleaned = cleaned[:-1].rstrip(" .")
    return cleaned or fallback


def licensed_assets_for(
    session: Session,
    *,
    org_id: int,
    now: datetime | None = None,
    title_ids: Sequence[uuid.UUID] | None = None,
) -> list[LicensedAsset]:
    """Return every ready master the organization may download now, with its license.

    This is the licensee's rule, the one place it is written: an effective license of the
    title that covers the master's episode (or the whole title), the master ready, linked to
    a title of its own organization, and the newest version of its (title, episode, file
    name). `title_ids` narrows the answer to some titles (one download's check).
    """
    licenses = effective_licenses(session, org_id=org_id, now=now)
    if title_ids is not None:
        wanted = set(title_ids)
        licenses = [lic for lic in licenses if lic.title_id in wanted]
    if not licenses:
        return []
    by_title: dict[uuid.UUID, list[License]] = {}
    for license_ in licenses:
        by_title.setdefault(license_.title_id, []).append(license_)
    rows = session.execute(
        select(Asset, AssetCatalog, Title, Organization.code)
        .join(AssetCatalog, AssetCatalog.asset_id == Asset.id)
        .join(Title, Title.id == AssetCatalog.title_id)
        .join(Organization, Organization.id == Asset.org_id)
        .where(
            AssetCatalog.title_id.in_(list(by_title)),
            Asset.status == AssetStatus.READY,
            Asset.purged_at.is_(None),
        )
        .order_by(Title.id, Asset.filename, Asset.version.desc(), Asset.id)
        # The listing names each master's downloadable renditions: one query, not one each.
        .options(selectinload(Asset.renditions), selectinload(Asset.subtitle_tracks))
    ).all()
    episode_ids = {row.AssetCatalog.episode_id for row in rows if row.AssetCatalog.episode_id}
    episodes = (
        {e.id: e for e in session.scalars(select(Episode).where(Episode.id.in_(episode_ids)))}
        if episode_ids
        else {}
    )
    result: list[LicensedAsset] = []
    seen_paths: set[str] = set()
    seen_versions: set[tuple[uuid.UUID, uuid.UUID | None, str]] = set()
    for asset, link, title, owner_code in rows:
        if title.org_id != asset.org_id:
            continue  # a link across organizations is never an entitlement
        episode = episodes.get(link.episode_id) if link.episode_id else None
        # A re-delivered master is a new asset version; offer only the newest one.
        identity = (title.id, link.episode_id, asset.filename)
        if identity in seen_versions:
            continue
        covering = _license_covering(by_title[title.id], link.episode_id)
        if covering is None:
            continue
        seen_versions.add(identity)
        folder = _safe_component(title.original_title, str(title.id))
        parts = [LICENSED_ROOT, _safe_component(owner_code, "owner"), folder]
        if episode is not None:
            parts.append(f"S{episode.season_number:02d}E{episode.number:02d}")
        path = "/".join([*parts, _safe_component(asset.filename, str(asset.id))])
        if path in seen_paths:
            stem = _safe_component(asset.filename, "master")
            path = "/".join([*parts, f"{asset.id.hex[:8]}-{stem}"])
        seen_paths.add(path)
        result.append(
            LicensedAsset(
                asset=asset,
                license=covering,
                title=title,
                episode=episode,
                owner_code=owner_code,
                path=path,
            )
        )
    return result


def _license_covering(licenses: Sequence[License], episode_id: uuid.UUID | None) -> License | None:
    for license_ in licenses:
        if not license_.episode_ids:
            return license_
        if episode_id is not None and str(episode_id) in license_.episode_ids:
            return license_
    return None


@dataclass(frozen=True)
class Entitlement:
    """Why an organization may read an asset: it owns it, or a license covers it."""

    asset: Asset
    license: License | None  # None: the organization's own asset
    # Where the master sits in the licensee's `/licensed` tree (None for the owner).
    licensed_path: str | None = None


def entitlement(
    session: Session, *, org_id: int, asset_id: uuid.UUID, now: datetime | None = None
) -> Entitlement | None:
    """Decide whether the organization may read this asset now (None: it may not).

    The owner may read every asset it uploaded. Anyone else reads through the licensee's rule
    of `licensed_assets_for`, superseded versions included, so the FTP `/licensed` tree, the
    API download and the sync can never disagree.
    """
    asset = session.get(Asset, asset_id)
    if asset is None or asset.purged_at is not None:
        return None
    if asset.org_id == org_id:
        return Entitlement(asset=asset, license=None)
    link = session.get(AssetCatalog, asset_id)
    if link is None or link.title_id is None:
        return None
    for item in licensed_assets_for(session, org_id=org_id, now=now, title_ids=[link.title_id]):
        if item.asset.id == asset_id:
            return Entitlement(asset=asset, license=item.license, licensed_path=item.path)
    return None


def downloadable_renditions(asset: Asset) -> list[Rendition]:
    """Return the renditions a downloader gets beside the master: the tallest proxy, the poster."""
    picked: list[Rendition] = []
    for kind in DOWNLOADABLE_RENDITIONS:
        candidates = [r for r in asset.renditions if r.kind == kind]
        if candidates:
            # A ladder makes several proxies; the tallest is the most useful off-line copy.
            picked.append(max(candidates, key=lambda r: (_height(r), r.name)))
    return picked


def _height(rendition: Rendition) -> int:
    value = (rendition.meta or {}).get("height")
    return value if isinstance(value, int) else 0


@dataclass(frozen=True)
class SubtitleFile:
    """A subtitle file delivered beside a master, handed out like a rendition.

    Its kind is the track's language for the WebVTT (`kk-Cyrl`, named `<master>.kk-Cyrl.vtt`
    beside the master) and `<language>.original` for the file as delivered
    (`<master>.kk-Cyrl.original.stl`): a language tag never looks like `proxy` or `poster`.
    """

    kind: str
    name: str
    object_key: str
    size: int
    sha256: str
    content_type: str
    language: str
    format: str
    created_at: datetime


def subtitle_files(asset: Asset) -> list[SubtitleFile]:
    """Every track's WebVTT and original, by language."""
    files: list[SubtitleFile] = []
    for track in asset.subtitle_tracks:
        for kind, name, key, size, sha256, content_type in (
            (
                track.language,
                f"{track.language}.vtt",
                track.vtt_key,
                track.vtt_size,
                track.vtt_sha256,
                "text/vtt; charset=utf-8",
            ),
            (
                f"{track.language}.original",
                track.original_name,
                track.original_key,
                track.original_size,
                track.original_sha256,
                "application/octet-stream",
            ),
        ):
            files.append(
                SubtitleFile(
                    kind=kind,
                    name=name,
                    object_key=key,
                    size=size,
                    sha256=sha256,
                    content_type=content_type,
                    language=track.language,
                    format=track.format,
                    created_at=track.updated_at,
                )
            )
    return files


def subtitle_file_name(master_name: str, subtitle: SubtitleFile) -> str:
    """Its name beside the master, by the renditions' rule: `<master>.<kind><extension>`."""
    return _beside(master_name, subtitle.kind, subtitle.name)


def rendition_sha256(rendition: Rendition) -> str | None:
    """Return the SHA-256 the transcoder recorded for this rendition; None for older ones."""
    value = (rendition.meta or {}).get("sha256")
    # Renditions made before the transcoder recorded hashes have none; anything that is not
    # a hex digest is not published either (the client then falls back to the size).
    if isinstance(value, str) and _SHA256_HEX.fullmatch(value):
        return value.lower()
    return None


def rendition_file_name(master_name: str, rendition: Rendition) -> str:
    """The rendition's name beside its master: `<master>.proxy.mp4`, `<master>.poster.jpg`.

    The same rule as the sync client's `rendition_path`, so FTP `/licensed` and a synced
    folder look alike (a test keeps the two in step).
    """
    return _beside(master_name, rendition.kind, rendition.name)


def _beside(master_name: str, kind: str, name: str) -> str:
    """`<master>.<kind><extension of name>`; the extension only when it looks like one."""
    suffix = PurePosixPath(name).suffix
    if not _EXTENSION.fullmatch(suffix):
        suffix = ""
    return f"{master_name}.{kind}{suffix}"


def get_downloadable_rendition(asset: Asset, *, kind: str) -> Rendition:
    """Return the asset's rendition of this kind, or say clearly why there is none."""
    if kind not in DOWNLOADABLE_RENDITIONS:
        allowed = ", ".join(DOWNLOADABLE_RENDITIONS)
        raise InvalidInput(f"rendition {kind!r} cannot be downloaded; choose one of {allowed}")
    for rendition in downloadable_renditions(asset):
        if rendition.kind == kind:
            return rendition
    raise NotFound(
        f"asset {asset.id} has no {kind} rendition (not transcoded yet, or transcoding failed)"
    )

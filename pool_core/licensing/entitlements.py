"""Entitlements: which masters an organization may download now, and under which license.

A licensee may reach a master only through an *effective* license: status active and now
inside [starts_at, ends_at).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from pool_core.errors import InvalidInput, NotFound, PermissionDenied
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
    User,
    utcnow,
)
from pool_core.names import LICENSED_ROOT

# Renditions a licensee may download beside a master (the nightly sync's optional extras).
DownloadableRendition = Literal["proxy", "poster"]
DOWNLOADABLE_RENDITIONS: tuple[str, ...] = get_args(DownloadableRendition)
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


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
    # Path components of the virtual tree: NFC, no separators or control characters.
    cleaned = "".join(
        "_" if ch in "/\\" or unicodedata.category(ch).startswith("C") else ch
        for ch in unicodedata.normalize("NFC", text)
    ).strip(" .")
    while len(cleaned.encode()) > 200:
        cleaned = cleaned[:-1]
    return cleaned or fallback


def licensed_assets_for(
    session: Session, *, org_id: int, now: datetime | None = None
) -> list[LicensedAsset]:
    """Return every ready master the organization may download now, with its license."""
    licenses = effective_licenses(session, org_id=org_id, now=now)
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
        .where(AssetCatalog.title_id.in_(list(by_title)), Asset.status == AssetStatus.READY)
        .order_by(Title.id, Asset.filename, Asset.version.desc(), Asset.id)
        # The listing names each master's downloadable renditions: one query, not one each.
        .options(selectinload(Asset.renditions))
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


def can_download(
    session: Session, *, org_id: int, asset_id: uuid.UUID, now: datetime | None = None
) -> License | None:
    """Return the effective license that lets the organization fetch this master, if any."""
    link = session.get(AssetCatalog, asset_id)
    asset = session.get(Asset, asset_id)
    if link is None or link.title_id is None or asset is None:
        return None
    if asset.status != AssetStatus.READY:
        return None
    title = session.get(Title, link.title_id)
    if title is None or title.org_id != asset.org_id:
        return None
    now = now or utcnow()
    candidates = [
        lic
        for lic in effective_licenses(session, org_id=org_id, now=now)
        if lic.title_id == link.title_id
    ]
    return _license_covering(candidates, link.episode_id)


@dataclass(frozen=True)
class DownloadGrant:
    """A master the caller may fetch, with the license it is delivered under (None = owner)."""

    asset: Asset
    license: License | None


def authorize_download(session: Session, *, user: User, asset_id: uuid.UUID) -> DownloadGrant:
    """Check that the user's organization may fetch the master (owner or licensee)."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound(f"no asset {asset_id}")
    if asset.org_id == user.org_id:
        return DownloadGrant(asset=asset, license=None)
    license_ = can_download(session, org_id=user.org_id, asset_id=asset_id)
    if license_ is None:
        raise PermissionDenied(f"your organization holds no current license for asset {asset_id}")
    return DownloadGrant(asset=asset, license=license_)


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


def rendition_sha256(rendition: Rendition) -> str | None:
    """Return the SHA-256 the transcoder recorded for this rendition; None for older ones."""
    value = (rendition.meta or {}).get("sha256")
    # Renditions made before the transcoder recorded hashes have none; anything that is not
    # a hex digest is not published either (the client then falls back to the size).
    if isinstance(value, str) and _SHA256_HEX.fullmatch(value):
        return value.lower()
    return None


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

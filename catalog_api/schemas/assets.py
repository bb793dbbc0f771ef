"""Assets (masters), their renditions, catalog state and screening links."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from pool_core.catalog.inputs import AssetView, ScreeningLink
from pool_core.licensing.entitlements import rendition_sha256
from pool_core.models import AssetStatus, MetadataState, QcVerdict
from pool_core.services.audio_mapping import AudioMapping, MappingError


class RenditionOut(BaseModel):
    """A derived file: proxy, poster, thumbnail, storyboard."""

    kind: str
    name: str
    size: int
    content_type: str
    sha256: str | None = Field(
        description="SHA-256 (hex) of the stored file; null for renditions made before the "
        "transcoder recorded one."
    )
    meta: dict[str, Any]


class AssetMetadataOut(BaseModel):
    """Where the asset stands in the catalog."""

    state: MetadataState = Field(
        description="needs_metadata (no sidecar, not linked), pending (sidecar waiting), "
        "linked, or invalid (the sidecar was refused; see `error`)."
    )
    title_id: uuid.UUID | None
    episode_id: uuid.UUID | None
    error: str | None


class AssetOut(BaseModel):
    """One version of a master."""

    id: uuid.UUID
    org_id: int
    filename: str
    version: int
    size: int
    md5: str | None
    sha256: str | None
    status: AssetStatus
    failure_reason: str | None
    technical: dict[str, Any]
    qc: dict[str, Any]
    qc_verdict: QcVerdict | None
    ingest_warnings: list[str]
    metadata: AssetMetadataOut
    renditions: list[RenditionOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_view(cls, view: AssetView, *, viewer_org_id: int | None = None) -> AssetOut:
        """Build from the service's view, as `viewer_org_id` may read it.

        Another member (a master linked to a published title) reads the catalog's public
        side only: no checksums, failure text, ingest warnings or sidecar errors, which narrate
        the owner's ingest (the same rule as the change feed). Licensees get the SHA-256 of
        what they download from `GET /v1/licensed-assets` and the download itself.
        """
        out = cls._full(view)
        if viewer_org_id is None or viewer_org_id == view.asset.org_id:
            return out
        metadata = out.metadata.model_copy(update={"error": None})
        return out.model_copy(
            update={
                "md5": None,
                "sha256": None,
                "failure_reason": None,
                "ingest_warnings": [],
                "metadata": metadata,
            }
        )

    @classmethod
    def _full(cls, view: AssetView) -> AssetOut:
        asset, link = view.asset, view.catalog
        return cls(
            id=asset.id,
            org_id=asset.org_id,
            filename=asset.filename,
            version=asset.version,
            size=asset.size,
            md5=asset.md5,
            sha256=asset.sha256,
            status=asset.status,
            failure_reason=asset.failure_reason,
            technical=dict(asset.technical or {}),
            qc=dict(asset.qc or {}),
            qc_verdict=asset.qc_verdict,
            ingest_warnings=list(asset.ingest_warnings or []),
            metadata=AssetMetadataOut(
                state=view.metadata_state,
                title_id=link.title_id if link else None,
                episode_id=link.episode_id if link else None,
                error=link.error if link else None,
            ),
            renditions=[
                RenditionOut(
                    kind=r.kind,
                    name=r.name,
                    size=r.size,
                    content_type=r.content_type,
                    sha256=rendition_sha256(r),
                    meta=dict(r.meta or {}),
                )
                for r in sorted(asset.renditions, key=lambda r: (r.kind, r.name))
            ],
            created_at=asset.created_at,
            updated_at=asset.updated_at,
        )


class AssetLinkIn(BaseModel):
    """Link an asset to a title (and episode) of your organization."""

    title_id: uuid.UUID
    episode_id: uuid.UUID | None = None


class AudioMappingIn(BaseModel):
    """The proxy's stereo mix for this asset: one track, two of its channels, or two tracks.

    All fields empty (or `{}`) goes back to the rule for the master's layout.
    """

    track: int | None = Field(None, ge=1, le=64, description="One track (1-based).")
    channels: tuple[int, int] | None = Field(
        None, description="Two channels (1-based) of `track` as left and right."
    )
    left: int | None = Field(None, ge=1, le=64, description="Track for the left side.")
    right: int | None = Field(None, ge=1, le=64, description="Track for the right side.")

    def to_mapping(self) -> AudioMapping | None:
        """The domain value (None: back to the rule)."""
        if self.track is None and self.left is None and self.right is None:
            if self.channels is not None:
                raise MappingError("channels need a track")
            return None
        return AudioMapping(
            track=self.track, channels=self.channels, left=self.left, right=self.right
        )


class ScreeningIn(BaseModel):
    """How long the screening URLs should stay valid."""

    expires_in: int = Field(900, ge=60, le=3600, description="Seconds, 60-3600.")


class ScreeningLinkOut(BaseModel):
    """A short-lived URL to one preview rendition."""

    kind: str
    name: str
    content_type: str
    url: str
    expires_in: int

    @classmethod
    def from_link(cls, link: ScreeningLink) -> ScreeningLinkOut:
        """Build from the service's value."""
        return cls(
            kind=link.kind,
            name=link.name,
            content_type=link.content_type,
            url=link.url,
            expires_in=link.expires_in,
        )


class ScreeningOut(BaseModel):
    """The URLs handed out for one screening (logged in the audit trail)."""

    asset_id: uuid.UUID
    links: list[ScreeningLinkOut]

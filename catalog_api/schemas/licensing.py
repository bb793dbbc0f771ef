"""Rights windows, license requests, licenses, downloads, the change feed and webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from catalog_api.schemas.common import LongText, Medium, NoControl
from pool_core.licensing.entitlements import (
    LicensedAsset,
    downloadable_renditions,
    rendition_sha256,
    subtitle_files,
)
from pool_core.models import (
    ChangeEvent,
    Delivery,
    License,
    LicenseRequest,
    LicenseStatus,
    LicenseType,
    RequestStatus,
    RightsWindow,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from pool_core.names import LICENSED_ROOT
from pool_core.services.webhooks import event_body

Territory = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2.")]
Territories = Annotated[list[Territory], Field(min_length=1, max_length=60)]
Comment = Annotated[str, Field(max_length=5000), NoControl]
EventKind = Annotated[str, Field(min_length=1, max_length=64), NoControl]


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL")
    return value


WebhookUrl = Annotated[str, Field(min_length=8, max_length=2048), AfterValidator(_http_url)]


class HoldbackIn(BaseModel):
    """A period inside a window in which no license may run in these territories."""

    territories: Territories
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: Medium = ""


class RightsWindowIn(BaseModel):
    """What the owner offers: territories, period, exclusivity, license type, holdbacks."""

    territories: Territories
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    license_type: LicenseType
    exclusivity: bool = Field(False, description="Whether exclusive licenses may be granted.")
    holdbacks: list[HoldbackIn] = Field(default_factory=list, max_length=50)
    notes: LongText = ""


class RightsWindowOut(BaseModel):
    """A rights window of a title."""

    id: int
    title_id: uuid.UUID
    owner_org_id: int
    territories: list[str]
    starts_at: datetime
    ends_at: datetime
    license_type: LicenseType
    exclusivity: bool
    holdbacks: list[dict[str, Any]]
    notes: str
    created_at: datetime

    @classmethod
    def from_model(cls, window: RightsWindow) -> RightsWindowOut:
        """Build from the ORM row."""
        return cls(
            id=window.id,
            title_id=window.title_id,
            owner_org_id=window.owner_org_id,
            territories=list(window.territories),
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            license_type=window.license_type,
            exclusivity=window.exclusivity,
            holdbacks=list(window.holdbacks),
            notes=window.notes,
            created_at=window.created_at,
        )


class LicenseRequestIn(BaseModel):
    """A request to license a title (or some episodes) for territories and a period."""

    title_id: uuid.UUID
    episode_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=1000, description="Empty = the whole title."
    )
    territories: Territories
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    license_type: LicenseType
    exclusive: bool = False
    message: Comment = ""


class LicenseRequestOut(BaseModel):
    """A license request and its decision."""

    id: int
    title_id: uuid.UUID
    episode_ids: list[str]
    requester_org_id: int
    licensor_org_id: int
    territories: list[str]
    starts_at: datetime
    ends_at: datetime
    license_type: LicenseType
    exclusive: bool
    message: str
    status: RequestStatus
    decision_comment: str
    decided_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, request: LicenseRequest) -> LicenseRequestOut:
        """Build from the ORM row."""
        return cls(
            id=request.id,
            title_id=request.title_id,
            episode_ids=list(request.episode_ids),
            requester_org_id=request.requester_org_id,
            licensor_org_id=request.licensor_org_id,
            territories=list(request.territories),
            starts_at=request.starts_at,
            ends_at=request.ends_at,
            license_type=request.license_type,
            exclusive=request.exclusive,
            message=request.message,
            status=request.status,
            decision_comment=request.decision_comment,
            decided_at=request.decided_at,
            created_at=request.created_at,
        )


class DecisionIn(BaseModel):
    """The rights manager's comment on an approval (optional)."""

    comment: Comment = ""


class DeclineIn(BaseModel):
    """Why a request is declined (required; the requester reads it)."""

    comment: Annotated[str, Field(min_length=1, max_length=5000), NoControl]


class RevokeIn(BaseModel):
    """Why a license is revoked."""

    reason: Comment = ""


class LicenseOut(BaseModel):
    """A license: who may use what, where, until when."""

    id: int
    request_id: int | None
    rights_window_id: int | None
    title_id: uuid.UUID
    episode_ids: list[str]
    licensor_org_id: int
    licensee_org_id: int
    territories: list[str]
    starts_at: datetime
    ends_at: datetime
    exclusive: bool
    license_type: LicenseType
    status: LicenseStatus
    revoked_at: datetime | None
    revoke_reason: str
    expired_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, license_: License) -> LicenseOut:
        """Build from the ORM row."""
        return cls(
            id=license_.id,
            request_id=license_.request_id,
            rights_window_id=license_.rights_window_id,
            title_id=license_.title_id,
            episode_ids=list(license_.episode_ids),
            licensor_org_id=license_.licensor_org_id,
            licensee_org_id=license_.licensee_org_id,
            territories=list(license_.territories),
            starts_at=license_.starts_at,
            ends_at=license_.ends_at,
            exclusive=license_.exclusive,
            license_type=license_.license_type,
            status=license_.status,
            revoked_at=license_.revoked_at,
            revoke_reason=license_.revoke_reason,
            expired_at=license_.expired_at,
            created_at=license_.created_at,
        )


class DeliveryOut(BaseModel):
    """One logged delivery of a licensed master."""

    id: int
    license_id: int
    asset_id: uuid.UUID
    org_id: int
    user_id: int | None
    channel: str
    offset: int
    created_at: datetime

    @classmethod
    def from_model(cls, delivery: Delivery) -> DeliveryOut:
        """Build from the ORM row."""
        return cls(
            id=delivery.id,
            license_id=delivery.license_id,
            asset_id=delivery.asset_id,
            org_id=delivery.org_id,
            user_id=delivery.user_id,
            channel=delivery.channel,
            offset=delivery.offset,
            created_at=delivery.created_at,
        )


class LicensedRenditionOut(BaseModel):
    """A rendition the licensee may download beside the master (`?rendition=<kind>`)."""

    kind: str = Field(description="proxy or poster.")
    name: str
    size: int
    content_type: str
    sha256: str | None = Field(
        description="SHA-256 (hex) of the file; null for renditions made before the pool "
        "recorded one (verify the size only, then)."
    )


class LicensedSubtitleOut(BaseModel):
    """A subtitle file the licensee may download beside the master (`?rendition=<kind>`)."""

    kind: str = Field(
        description="The language (`kk-Cyrl`) for the WebVTT, `<language>.original` for the "
        "file as delivered."
    )
    name: str
    size: int
    content_type: str
    sha256: str = Field(description="SHA-256 (hex) of the file.")
    language: str
    format: str = Field(description="The original's format: srt, vtt, ttml, stl or scc.")


class LicensedAssetOut(BaseModel):
    """A master your organization may download now (what the nightly sync mirrors)."""

    asset_id: uuid.UUID
    license_id: int
    license_ends_at: datetime
    path: str = Field(description="Relative path, the same as under FTP `/licensed/`.")
    filename: str
    size: int
    sha256: str | None
    owner: str
    title_id: uuid.UUID
    metadata: dict[str, Any] = Field(
        description="Title, episode, technical metadata and license: the sync's sidecar JSON."
    )
    renditions: list[LicensedRenditionOut] = Field(
        description="Proxy and poster, when the master has them, for "
        "`GET /v1/assets/{id}/download?rendition=<kind>`."
    )
    subtitles: list[LicensedSubtitleOut] = Field(
        description="Each subtitle track's WebVTT and original, for "
        "`GET /v1/assets/{id}/download?rendition=<kind>`."
    )

    @classmethod
    def from_item(cls, item: LicensedAsset) -> LicensedAssetOut:
        """Build from the service's entitlement."""
        title, asset, episode, lic = item.title, item.asset, item.episode, item.license
        metadata: dict[str, Any] = {
            "title": {
                "id": str(title.id),
                "kind": str(title.kind),
                "original_title": title.original_title,
                "original_language": title.original_language,
                "production_year": title.production_year,
                "countries": list(title.countries),
                "localizations": {
                    loc.language: {"title": loc.title, "synopsis": loc.synopsis}
                    for loc in title.localizations
                },
                "eidr": title.eidr,
                "isan": title.isan,
            },
            "episode": (
                {
                    "id": str(episode.id),
                    "season": episode.season_number,
                    "number": episode.number,
                    "name": episode.name,
                }
                if episode is not None
                else None
            ),
            "asset": {
                "id": str(asset.id),
                "filename": asset.filename,
                "version": asset.version,
                "size": asset.size,
                "sha256": asset.sha256,
                "md5": asset.md5,
                "technical": asset.technical,
            },
            "license": {
                "id": lic.id,
                "territories": list(lic.territories),
                "starts_at": lic.starts_at.isoformat(),
                "ends_at": lic.ends_at.isoformat(),
                "license_type": lic.license_type.value,
                "exclusive": lic.exclusive,
            },
            "owner": item.owner_code,
        }
        return cls(
            asset_id=asset.id,
            license_id=lic.id,
            license_ends_at=lic.ends_at,
            path=item.path.removeprefix(LICENSED_ROOT + "/"),
            filename=asset.filename,
            size=asset.size,
            sha256=asset.sha256,
            owner=item.owner_code,
            title_id=title.id,
            metadata=metadata,
            renditions=[
                LicensedRenditionOut(
                    kind=r.kind,
                    name=r.name,
                    size=r.size,
                    content_type=r.content_type,
                    sha256=rendition_sha256(r),
                )
                for r in downloadable_renditions(asset)
            ],
            subtitles=[
                LicensedSubtitleOut(
                    kind=f.kind,
                    name=f.name,
                    size=f.size,
                    content_type=f.content_type,
                    sha256=f.sha256,
                    language=f.language,
                    format=f.format,
                )
                for f in subtitle_files(asset)
            ],
        )


class DownloadOut(BaseModel):
    """A presigned URL for one master; it accepts HTTP Range requests until it expires."""

    url: str
    expires_at: datetime
    asset_id: uuid.UUID
    filename: str
    size: int
    sha256: str | None = Field(
        description="SHA-256 (hex) of the file; null for a rendition made before the pool "
        "recorded one."
    )
    license_id: int | None = Field(description="The license it is delivered under; null = own.")
    rendition: str | None = Field(
        None, description="The rendition kind (proxy, poster) handed out; null = the master."
    )


class ChangeOut(BaseModel):
    """One change event."""

    id: int
    kind: str
    subject_type: str
    subject_id: str
    org_id: int | None
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_model(cls, event: ChangeEvent, *, viewer_org_id: int) -> ChangeOut:
        """Build from the ORM row, as the viewer's organization may read it."""
        return cls.model_validate(event_body(event, viewer_org_id=viewer_org_id))


class ChangesOut(BaseModel):
    """A page of the change feed. Store `next_cursor` and pass it back as `cursor`."""

    events: list[ChangeOut]
    next_cursor: str = Field(description="Opaque; always present, even on an empty page.")
    has_more: bool = Field(description="More events are ready now; ask again at once.")


class WebhookIn(BaseModel):
    """A URL to receive your change feed as signed POSTs."""

    url: WebhookUrl
    event_kinds: list[EventKind] = Field(
        default_factory=list, max_length=50, description="Empty = every kind."
    )
    description: Medium = ""


class WebhookPatch(BaseModel):
    """Fields of a webhook to change."""

    url: WebhookUrl | None = None
    event_kinds: list[EventKind] | None = Field(None, max_length=50)
    description: Medium | None = None
    active: bool | None = None


class WebhookOut(BaseModel):
    """A webhook endpoint (without its secret)."""

    id: int
    url: str
    event_kinds: list[str]
    description: str
    active: bool
    created_at: datetime

    @classmethod
    def from_model(cls, endpoint: WebhookEndpoint) -> WebhookOut:
        """Build from the ORM row."""
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            event_kinds=list(endpoint.event_kinds),
            description=endpoint.description,
            active=endpoint.active,
            created_at=endpoint.created_at,
        )


class NewWebhookOut(WebhookOut):
    """A new webhook with its signing secret, shown only here."""

    secret: str = Field(
        description="HMAC-SHA256 key. Header `X-JointPool-Signature: t=<unix>,v1=<hex>` with "
        "hex = HMAC(secret, '<t>.' + raw body); after a rotation, a second `v1` (the previous "
        "secret's) follows during the grace period: accept the body if any `v1` matches."
    )


class RotatedWebhookOut(NewWebhookOut):
    """A webhook with its new signing secret, shown only here."""

    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries are signed with the previous secret too; null: "
        "no grace period (JOINTPOOL_WEBHOOK_SECRET_GRACE_SECONDS=0)."
    )


class WebhookDeliveryOut(BaseModel):
    """One entry of a webhook's delivery log."""

    id: int
    change_event_id: int
    kind: str
    status: WebhookDeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, delivery: WebhookDelivery) -> WebhookDeliveryOut:
        """Build from the ORM row."""
        return cls(
            id=delivery.id,
            change_event_id=delivery.change_event_id,
            kind=delivery.kind,
            status=delivery.status,
            attempts=delivery.attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
        )

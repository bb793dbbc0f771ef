"""All ORM models; importing this package registers every table on `Base.metadata`."""

from pool_core.models.accounts import (
    ApiToken,
    FtpAccount,
    Organization,
    Role,
    User,
    WebSession,
)
from pool_core.models.assets import Asset, AssetStatus, QcVerdict, Rendition
from pool_core.models.base import Base, utcnow
from pool_core.models.catalog import (
    AssetCatalog,
    Episode,
    MetadataState,
    SearchTerm,
    SearchTermDeletion,
    Season,
    Title,
    TitleGenre,
    TitleKind,
    TitleLocalization,
    TitleSearch,
    TitleStatus,
    title_visible,
)
from pool_core.models.events import AuditEvent, ChangeEvent
from pool_core.models.files import FileEntry, FileState, PendingUpload, ReleasedObject
from pool_core.models.jobs import Job, JobStatus
from pool_core.models.licensing import (
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
from pool_core.models.nodes import Node
from pool_core.models.subtitles import SubtitleCue, SubtitleTrack

__all__ = [
    "ApiToken",
    "Asset",
    "AssetCatalog",
    "AssetStatus",
    "AuditEvent",
    "Base",
    "ChangeEvent",
    "Delivery",
    "Episode",
    "FileEntry",
    "FileState",
    "FtpAccount",
    "Job",
    "JobStatus",
    "License",
    "LicenseRequest",
    "LicenseStatus",
    "LicenseType",
    "MetadataState",
    "Node",
    "Organization",
    "PendingUpload",
    "QcVerdict",
    "ReleasedObject",
    "Rendition",
    "RequestStatus",
    "RightsWindow",
    "Role",
    "SearchTerm",
    "SearchTermDeletion",
    "Season",
    "SubtitleCue",
    "SubtitleTrack",
    "Title",
    "TitleGenre",
    "TitleKind",
    "TitleLocalization",
    "TitleSearch",
    "TitleStatus",
    "User",
    "WebSession",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
    "title_visible",
    "utcnow",
]

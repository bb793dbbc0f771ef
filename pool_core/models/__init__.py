"""All ORM models; importing this package registers every table on `Base.metadata`."""

from pool_core.models.accounts import ApiToken, FtpAccount, Organization, Role, User
from pool_core.models.assets import Asset, AssetStatus, QcVerdict, Rendition
from pool_core.models.base import Base, utcnow
from pool_core.models.events import AuditEvent, ChangeEvent
from pool_core.models.files import FileEntry, FileState, PendingUpload
from pool_core.models.jobs import Job, JobStatus

__all__ = [
    "ApiToken",
    "Asset",
    "AssetStatus",
    "AuditEvent",
    "Base",
    "ChangeEvent",
    "FileEntry",
    "FileState",
    "FtpAccount",
    "Job",
    "JobStatus",
    "Organization",
    "PendingUpload",
    "QcVerdict",
    "Rendition",
    "Role",
    "User",
    "utcnow",
]

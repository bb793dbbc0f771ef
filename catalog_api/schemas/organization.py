"""Your organization and the settings its admin may change."""

from __future__ import annotations

from pydantic import BaseModel

from pool_core.models import Organization


class OrganizationOut(BaseModel):
    """The caller's organization."""

    code: str
    name: str
    country: str
    sidecar_auto_publish: bool

    @classmethod
    def from_model(cls, org: Organization) -> OrganizationOut:
        """Build from the ORM object."""
        return cls(
            code=org.code,
            name=org.name,
            country=org.country,
            sidecar_auto_publish=org.sidecar_auto_publish,
        )


class OrganizationUpdate(BaseModel):
    """Settings to change; omitted ones stay as they are."""

    # True: a sidecar's `status` is applied (it may publish a title or change a published
    # one). False (the default): sidecars only create and update drafts.
    sidecar_auto_publish: bool | None = None

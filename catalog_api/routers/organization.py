"""The caller's organization and its settings (changed by the organization's admin)."""

from __future__ import annotations

from fastapi import APIRouter

from catalog_api.deps import ActorDep, SessionDep
from catalog_api.schemas.common import PROBLEM_RESPONSES
from catalog_api.schemas.organization import OrganizationOut, OrganizationUpdate
from pool_core.common.actor import audit_as
from pool_core.services.accounts import get_organization, update_organization_settings

router = APIRouter(prefix="/v1", tags=["auth"], responses=PROBLEM_RESPONSES)


@router.get("/organization", response_model=OrganizationOut)
def get_own_organization(actor: ActorDep, session: SessionDep) -> OrganizationOut:
    """Your organization and its settings."""
    return OrganizationOut.from_model(get_organization(session, org_id=actor.org_id))


@router.patch("/organization", response_model=OrganizationOut)
def update_own_organization(
    body: OrganizationUpdate, actor: ActorDep, session: SessionDep
) -> OrganizationOut:
    """Change your organization's settings (admins only)."""
    org = update_organization_settings(
        session, org_id=actor.org_id, sidecar_auto_publish=body.sidecar_auto_publish
    )
    audit_as(
        session,
        actor,
        action="organization.updated",
        subject=f"organization:{org.code}",
        detail=body.model_dump(exclude_none=True),
    )
    return OrganizationOut.from_model(org)

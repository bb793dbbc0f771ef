"""Uploads half-way: `GET /v1/uploads` (pending and settling, your organization's)."""

from __future__ import annotations

from fastapi import APIRouter

from catalog_api.deps import CurrentUser, SessionDep, StateDep
from catalog_api.schemas.common import PROBLEM_RESPONSES
from catalog_api.schemas.uploads import UploadOut, UploadsOut
from pool_core.uploads.progress import declared_size
from pool_core.uploads.status import list_unfinished

router = APIRouter(prefix="/v1/uploads", tags=["uploads"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=UploadsOut)
def list_uploads(user: CurrentUser, session: SessionDep, state: StateDep) -> UploadsOut:
    """Your organization's uploads that are pending (resumable) or settling.

    A pending master whose metadata sidecar arrived first carries `declared_size`.
    """
    items = list_unfinished(session, org_id=user.org_id)
    return UploadsOut(
        items=[
            UploadOut.from_status(
                item,
                declared_size=declared_size(
                    session, state.storage, org_id=user.org_id, path=item.path
                )
                if item.state == "pending"
                else None,
            )
            for item in items
        ]
    )

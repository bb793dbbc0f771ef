"""The change feed: `GET /v1/changes?cursor=…`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from catalog_api.deps import CurrentUser, SessionDep
from catalog_api.schemas.common import PROBLEM_RESPONSES
from catalog_api.schemas.licensing import ChangeOut, ChangesOut
from pool_core.services import feed

router = APIRouter(prefix="/v1", tags=["changes"], responses=PROBLEM_RESPONSES)

# Longer than list cursors: a feed cursor carries the ids it still waits for (see feed.py).
FeedCursor = Annotated[
    str | None,
    Query(
        max_length=16384,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="`next_cursor` of the previous page; omit to start at the beginning.",
    ),
]


@router.get("/changes", response_model=ChangesOut)
def list_changes(
    user: CurrentUser,
    session: SessionDep,
    cursor: FeedCursor = None,
    limit: Annotated[int, Query(ge=1, le=feed.MAX_LIMIT)] = 100,
) -> ChangesOut:
    """What changed that your organization may see: asset ready, metadata, licenses.

    At-least-once: an event may come again, or later than a higher id (ids committed out of
    order); handle events idempotently and keep the newest `next_cursor`.
    """
    page = feed.list_changes(session, viewer_org_id=user.org_id, cursor=cursor, limit=limit)
    return ChangesOut(
        events=[ChangeOut.from_model(e, viewer_org_id=user.org_id) for e in page.events],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )

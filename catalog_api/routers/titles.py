"""Titles and their episodes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from catalog_api.deps import SAFE_TEXT, ActorDep, CurrentUser, Cursor, Limit, SessionDep
from catalog_api.schemas.common import PROBLEM_RESPONSES, Page
from catalog_api.schemas.titles import EpisodeIn, EpisodeOut, TitleCreate, TitleOut, TitleUpdate
from pool_core.models import TitleKind, TitleStatus
from pool_core.services import catalog

router = APIRouter(prefix="/v1/titles", tags=["titles"], responses=PROBLEM_RESPONSES)

OwnerCode = Annotated[
    str | None, Query(max_length=32, pattern=SAFE_TEXT, description="Organization code.")
]


@router.get("", response_model=Page[TitleOut])
def list_titles(
    user: CurrentUser,
    session: SessionDep,
    owner: OwnerCode = None,
    kind: TitleKind | None = None,
    status: TitleStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TitleOut]:
    """List the titles you may see (published ones and your own drafts), newest first."""
    page = catalog.list_titles(
        session,
        viewer_org_id=user.org_id,
        owner=owner,
        kind=kind.value if kind else None,
        status=status.value if status else None,
        limit=limit,
        cursor=cursor,
    )
    return Page[TitleOut](
        items=[TitleOut.from_model(t) for t in page.items], next_cursor=page.next_cursor
    )


@router.post("", response_model=TitleOut, status_code=201)
def create_title(body: TitleCreate, actor: ActorDep, session: SessionDep) -> TitleOut:
    """Create a title owned by your organization (admins and editors)."""
    title = catalog.create_title(session, actor=actor, data=body.to_input())
    return TitleOut.from_model(title)


@router.get("/{title_id}", response_model=TitleOut)
def get_title(title_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> TitleOut:
    """One title."""
    return TitleOut.from_model(
        catalog.get_title(session, viewer_org_id=user.org_id, title_id=title_id)
    )


@router.patch("/{title_id}", response_model=TitleOut)
def update_title(
    title_id: uuid.UUID, body: TitleUpdate, actor: ActorDep, session: SessionDep
) -> TitleOut:
    """Change some fields of one of your titles."""
    data, fields = body.to_input()
    title = catalog.update_title(session, actor=actor, title_id=title_id, data=data, fields=fields)
    return TitleOut.from_model(title)


@router.delete("/{title_id}", status_code=204, response_class=Response)
def delete_title(title_id: uuid.UUID, actor: ActorDep, session: SessionDep) -> Response:
    """Delete one of your titles; its assets go back to needing metadata."""
    catalog.delete_title(session, actor=actor, title_id=title_id)
    return Response(status_code=204)


@router.get("/{title_id}/episodes", response_model=Page[EpisodeOut])
def list_episodes(
    title_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EpisodeOut]:
    """The episodes of a title, by season and number."""
    page = catalog.list_episodes(
        session, viewer_org_id=user.org_id, title_id=title_id, limit=limit, cursor=cursor
    )
    return Page[EpisodeOut](
        items=[EpisodeOut.from_model(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.post("/{title_id}/episodes", response_model=EpisodeOut, status_code=201)
def put_episode(
    title_id: uuid.UUID, body: EpisodeIn, actor: ActorDep, session: SessionDep
) -> EpisodeOut:
    """Add an episode to one of your titles (or update the one at that season and number)."""
    episode = catalog.upsert_episode(
        session,
        actor=actor,
        title_id=title_id,
        season_number=body.season,
        number=body.number,
        name=body.name,
        localizations=body.localized(),
        duration_seconds=body.duration_seconds,
    )
    return EpisodeOut.from_model(episode)

"""Titles, their seasons and their episodes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from catalog_api.deps import (
    SAFE_TEXT,
    ActorDep,
    BearerCredentials,
    CurrentUser,
    Cursor,
    Limit,
    SessionDep,
    as_viewer,
)
from catalog_api.schemas.common import PROBLEM_RESPONSES, Page
from catalog_api.schemas.titles import (
    EpisodeIn,
    EpisodeOut,
    SeasonIn,
    SeasonOut,
    TitleCreate,
    TitleOut,
    TitleUpdate,
)
from pool_core.catalog import episodes, seasons, titles
from pool_core.catalog.inputs import MAX_SEASON
from pool_core.models import TitleKind, TitleStatus, User

router = APIRouter(prefix="/v1/titles", tags=["titles"], responses=PROBLEM_RESPONSES)

OwnerCode = Annotated[
    str | None, Query(max_length=32, pattern=SAFE_TEXT, description="Organization code.")
]
SeasonNumber = Annotated[int, Path(ge=1, le=MAX_SEASON, description="Season number.")]
SeasonFilter = Annotated[
    int | None,
    Query(ge=0, le=MAX_SEASON, description="Only this season's episodes (0: those without)."),
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
    page = titles.list_titles(
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
    title = titles.create_title(session, actor=actor, data=body.to_input())
    return TitleOut.from_model(title)


@router.get("/{title_id}", response_model=TitleOut)
async def get_title(
    title_id: uuid.UUID, request: Request, credentials: BearerCredentials
) -> TitleOut:
    """One title."""

    # One hop to a worker thread for authentication and the read (`as_viewer`): the search
    # results link here, so an editor opens titles as often as they search.
    def read(session: Session, user: User) -> TitleOut:
        title = titles.read_title(session, viewer_org_id=user.org_id, title_id=title_id)
        return TitleOut.from_model(title)

    return await run_in_threadpool(as_viewer(request, credentials, read))


@router.patch("/{title_id}", response_model=TitleOut)
def update_title(
    title_id: uuid.UUID, body: TitleUpdate, actor: ActorDep, session: SessionDep
) -> TitleOut:
    """Change some fields of one of your titles."""
    data, fields = body.to_input()
    title = titles.update_title(session, actor=actor, title_id=title_id, data=data, fields=fields)
    return TitleOut.from_model(title)


@router.delete("/{title_id}", status_code=204, response_class=Response)
def delete_title(title_id: uuid.UUID, actor: ActorDep, session: SessionDep) -> Response:
    """Delete one of your titles; its assets go back to needing metadata."""
    titles.delete_title(session, actor=actor, title_id=title_id)
    return Response(status_code=204)


@router.get("/{title_id}/episodes", response_model=Page[EpisodeOut])
def list_episodes(
    title_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    season: SeasonFilter = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[EpisodeOut]:
    """The episodes of a title (or of one of its seasons), by season and number."""
    page = episodes.list_episodes(
        session,
        viewer_org_id=user.org_id,
        title_id=title_id,
        season=season,
        limit=limit,
        cursor=cursor,
    )
    return Page[EpisodeOut](
        items=[EpisodeOut.from_model(e) for e in page.items], next_cursor=page.next_cursor
    )


@router.post("/{title_id}/episodes", response_model=EpisodeOut, status_code=201)
def put_episode(
    title_id: uuid.UUID, body: EpisodeIn, actor: ActorDep, session: SessionDep
) -> EpisodeOut:
    """Add an episode to one of your titles (or update the one at that season and number)."""
    episode = episodes.upsert_episode(
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


@router.get("/{title_id}/seasons", response_model=Page[SeasonOut])
def list_seasons(
    title_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SeasonOut]:
    """The seasons of a title by number, each with its episode count."""
    page = seasons.list_seasons(
        session, viewer_org_id=user.org_id, title_id=title_id, limit=limit, cursor=cursor
    )
    return Page[SeasonOut](
        items=[SeasonOut.from_view(s) for s in page.items], next_cursor=page.next_cursor
    )


@router.put(
    "/{title_id}/seasons/{number}",
    response_model=SeasonOut,
    responses={201: {"model": SeasonOut, "description": "The season was created."}},
)
def put_season(
    title_id: uuid.UUID,
    number: SeasonNumber,
    body: SeasonIn,
    actor: ActorDep,
    session: SessionDep,
    response: Response,
) -> SeasonOut:
    """Create a season of one of your titles (201) or replace its name (200)."""
    season, created = seasons.upsert_season(
        session, actor=actor, title_id=title_id, number=number, name=body.name
    )
    if created:
        response.status_code = 201
    return SeasonOut.from_view(season)


@router.delete("/{title_id}/seasons/{number}", status_code=204, response_class=Response)
def delete_season(
    title_id: uuid.UUID, number: SeasonNumber, actor: ActorDep, session: SessionDep
) -> Response:
    """Delete an empty season of one of your titles; one that has episodes is a 409."""
    seasons.delete_season(session, actor=actor, title_id=title_id, number=number)
    return Response(status_code=204)

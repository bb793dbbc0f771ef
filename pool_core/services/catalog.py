"""The programme catalog: titles, seasons, episodes, the catalog view of assets, screening.

Visibility: an organization sees all of its own titles and assets, and of the others only
published titles and the assets linked to them. Writing is for the owner's admins and
editors. Every write is audited and recorded in the change feed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from pool_core.common.actor import Actor, audit_as
from pool_core.common.pagination import (
    Page,
    after_cursor,
    int_cursor,
    page_of,
    parse_enum,
)
from pool_core.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from pool_core.models import (
    Asset,
    AssetCatalog,
    AssetStatus,
    Episode,
    MetadataState,
    Organization,
    Role,
    Season,
    Title,
    TitleGenre,
    TitleKind,
    TitleLocalization,
    TitleStatus,
)
from pool_core.search.engine import index_title, remove_title
from pool_core.services.catalog_rules import (
    base_language,
    normalize_country,
    normalize_eidr,
    normalize_genre,
    normalize_isan,
    normalize_language,
)
from pool_core.services.changes import record_change
from pool_core.storage.base import ObjectStorage

CATALOG_WRITERS = frozenset({Role.ADMIN, Role.EDITOR})
SCREENERS = frozenset({Role.ADMIN, Role.EDITOR, Role.RIGHTS_MANAGER})
# Rendition kinds a screener may get a URL for; masters are for licensees via the sync.
SCREENING_KINDS = frozenset({"proxy", "poster", "thumbnail", "storyboard", "storyboard_vtt"})
MAX_LOCALIZATIONS = 40
MAX_LIST_ITEMS = 200
MAX_SEASON = 1000
MAX_SEASON_NAME = 512


@dataclass(frozen=True)
class Localized:
    """Title and synopsis in one language."""

    title: str
    synopsis: str = ""


@dataclass
class TitleInput:
    """The writable fields of a title (for updates, only the ones named in `fields`)."""

    kind: str = TitleKind.PROGRAMME.value
    original_title: str = ""
    status: str = TitleStatus.PUBLISHED.value
    external_id: str | None = None
    original_language: str | None = None
    localizations: dict[str, Localized] = field(default_factory=dict)
    genres: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    production_year: int | None = None
    countries: list[str] = field(default_factory=list)
    duration_seconds: int | None = None
    age_rating: str | None = None
    eidr: str | None = None
    isan: str | None = None
    contributors: list[dict[str, str]] = field(default_factory=list)
    rights_notes: str | None = None


@dataclass(frozen=True)
class AssetView:
    """An asset with its catalog side."""

    asset: Asset
    catalog: AssetCatalog | None

    @property
    def metadata_state(self) -> MetadataState:
        """Whether the asset still needs metadata, waits for its sidecar, is linked or invalid."""
        if self.catalog is not None:
            return self.catalog.state
        if self.asset.sidecar_key:
            return MetadataState.PENDING
        return MetadataState.NEEDS_METADATA


@dataclass(frozen=True)
class SeasonView:
    """A season of a title with the number of episodes it holds."""

    title_id: uuid.UUID
    number: int
    name: str
    episode_count: int


@dataclass(frozen=True)
class ScreeningLink:
    """A short-lived URL to one rendition."""

    kind: str
    name: str
    content_type: str
    url: str
    expires_in: int


# --- titles -----------------------------------------------------------------------------


def _visible(viewer_org_id: int) -> ColumnElement[bool]:
    return or_(Title.status == TitleStatus.PUBLISHED, Title.org_id == viewer_org_id)


def get_title(session: Session, *, viewer_org_id: int, title_id: uuid.UUID) -> Title:
    """Return a title the viewer may see."""
    title = session.scalar(
        select(Title)
        .where(Title.id == title_id, _visible(viewer_org_id))
        .options(selectinload(Title.localizations), selectinload(Title.genre_rows))
    )
    if title is None:
        raise NotFound(f"no title {title_id}")
    return title


def get_title_by_external_id(session: Session, *, org_id: int, external_id: str) -> Title | None:
    """The organization's title with this house number, if any."""
    return session.scalar(
        select(Title).where(Title.org_id == org_id, Title.external_id == external_id.strip())
    )


def _title_for_write(session: Session, actor: Actor, title_id: uuid.UUID) -> Title:
    title = get_title(session, viewer_org_id=actor.org_id, title_id=title_id)
    if title.org_id != actor.org_id:
        raise PermissionDenied("only the owning organization may change this title")
    _require_writer(actor)
    return title


def _require_writer(actor: Actor) -> None:
    if actor.role is not None and actor.role not in CATALOG_WRITERS:
        raise PermissionDenied(f"the {actor.role} role may not change the catalog")


def list_titles(
    session: Session,
    *,
    viewer_org_id: int,
    owner: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """List the titles the viewer may see, newest first."""
    stmt = select(Title).where(_visible(viewer_org_id))
    if owner:
        stmt = stmt.join(Organization, Organization.id == Title.org_id).where(
            Organization.code == owner.strip().lower()
        )
    if kind:
        stmt = stmt.where(Title.kind == parse_enum(TitleKind, kind, "kind"))
    if status:
        stmt = stmt.where(Title.status == parse_enum(TitleStatus, status, "status"))
    stmt = after_cursor(stmt, Title.created_at, Title.id, cursor)
    stmt = stmt.order_by(Title.created_at.desc(), Title.id.desc()).limit(limit + 1)
    stmt = stmt.options(selectinload(Title.localizations), selectinload(Title.genre_rows))
    return page_of(list(session.scalars(stmt)), limit, lambda t: (t.created_at, t.id))


def create_title(session: Session, *, actor: Actor, data: TitleInput) -> Title:
    """Create a title owned by the actor's organization."""
    _require_writer(actor)
    title = Title(org_id=actor.org_id, created_by=actor.user_id, kind=TitleKind.PROGRAMME)
    _apply(title, data, set(data.__dataclass_fields__))
    session.add(title)
    _flush_unique(session, title)
    index_title(session, title=title)
    _record(session, actor, "title.created", title)
    return title


def update_title(
    session: Session, *, actor: Actor, title_id: uuid.UUID, data: TitleInput, fields: set[str]
) -> Title:
    """Change the named fields of one of the actor's titles."""
    title = _title_for_write(session, actor, title_id)
    _apply(title, data, fields)
    _flush_unique(session, title)
    index_title(session, title=title)
    _record(session, actor, "title.updated", title, {"fields": sorted(fields)})
    return title


def delete_title(session: Session, *, actor: Actor, title_id: uuid.UUID) -> None:
    """Delete one of the actor's titles with its episodes; linked assets need metadata again."""
    title = _title_for_write(session, actor, title_id)
    for link in session.scalars(select(AssetCatalog).where(AssetCatalog.title_id == title.id)):
        link.title_id = None
        link.episode_id = None
        link.state = MetadataState.NEEDS_METADATA
    for episode in session.scalars(select(Episode).where(Episode.title_id == title.id)):
        session.delete(episode)
    remove_title(session, title_id=title.id)
    _record(session, actor, "title.deleted", title)
    session.delete(title)
    session.flush()


def _apply(title: Title, data: TitleInput, fields: set[str]) -> None:
    if "kind" in fields:
        title.kind = parse_enum(TitleKind, data.kind, "kind")
    if "status" in fields:
        title.status = parse_enum(TitleStatus, data.status, "status")
    if "original_title" in fields:
        if not data.original_title.strip():
            raise InvalidInput("original_title must not be empty")
        title.original_title = data.original_title.strip()
    if "external_id" in fields:
        title.external_id = (data.external_id or "").strip() or None
    if "original_language" in fields:
        lang = data.original_language
        title.original_language = normalize_language(lang) if lang else None
    if "production_year" in fields:
        if data.production_year is not None and not 1888 <= data.production_year <= 2100:
            raise InvalidInput("production_year must be between 1888 and 2100")
        title.production_year = data.production_year
    if "duration_seconds" in fields:
        if data.duration_seconds is not None and not 0 <= data.duration_seconds <= 86400 * 7:
            raise InvalidInput("duration_seconds must be between 0 and 604800")
        title.duration_seconds = data.duration_seconds
    if "countries" in fields:
        title.countries = sorted({normalize_country(c) for c in data.countries})
    if "keywords" in fields:
        title.keywords = list(dict.fromkeys(k.strip() for k in data.keywords if k.strip()))
    if "age_rating" in fields:
        title.age_rating = (data.age_rating or "").strip() or None
    if "eidr" in fields:
        title.eidr = normalize_eidr(data.eidr) if data.eidr else None
    if "isan" in fields:
        title.isan = normalize_isan(data.isan) if data.isan else None
    if "contributors" in fields:
        title.contributors = [
            {"name": c["name"].strip(), "role": c.get("role", "").strip()}
            for c in data.contributors
            if c.get("name", "").strip()
        ]
    if "rights_notes" in fields:
        title.rights_notes = data.rights_notes or None
    if "genres" in fields:
        wanted = sorted({normalize_genre(g) for g in data.genres})
        title.genre_rows = [
            next((r for r in title.genre_rows if r.genre == g), None) or TitleGenre(genre=g)
            for g in wanted
        ]
    if "localizations" in fields:
        _apply_localizations(title, data.localizations)


def _apply_localizations(title: Title, localizations: Mapping[str, Localized]) -> None:
    if len(localizations) > MAX_LOCALIZATIONS:
        raise InvalidInput(f"at most {MAX_LOCALIZATIONS} localizations per title")
    wanted: dict[str, Localized] = {}
    for tag, loc in localizations.items():
        language = normalize_language(tag)
        if not loc.title.strip():
            raise InvalidInput(f"the {language} localization needs a title")
        wanted[language] = loc
    existing = {row.language: row for row in title.localizations}
    rows = []
    for language, loc in sorted(wanted.items()):
        row = existing.get(language) or TitleLocalization(
            language=language, base_language=base_language(language)
        )
        row.title = loc.title.strip()
        row.synopsis = loc.synopsis.strip()
        rows.append(row)
    title.localizations = rows


def _record(
    session: Session, actor: Actor, action: str, title: Title, detail: dict[str, Any] | None = None
) -> None:
    audit_as(
        session,
        actor,
        action=action,
        subject=f"title:{title.id}",
        detail=detail or {},
    )
    record_change(
        session,
        org_id=title.org_id,
        kind=action,
        subject_type="title",
        subject_id=str(title.id),
        data={"status": str(title.status)},
    )


def _flush_unique(session: Session, title: Title) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise AlreadyExists(
            f"this organization already has a title with external_id {title.external_id!r}"
        ) from exc


# --- episodes ---------------------------------------------------------------------------


def list_episodes(
    session: Session,
    *,
    viewer_org_id: int,
    title_id: uuid.UUID,
    season: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """List a visible title's episodes (of one season, if given) by season and number."""
    get_title(session, viewer_org_id=viewer_org_id, title_id=title_id)
    stmt = select(Episode).where(Episode.title_id == title_id)
    if season is not None:
        stmt = stmt.where(Episode.season_number == season)
    if cursor:
        after_season, after_number = int_cursor(cursor, size=2)
        stmt = stmt.where(
            or_(
                Episode.season_number > after_season,
                and_(Episode.season_number == after_season, Episode.number > after_number),
            )
        )
    stmt = stmt.order_by(Episode.season_number, Episode.number).limit(limit + 1)
    return page_of(list(session.scalars(stmt)), limit, lambda e: (e.season_number, e.number))


def upsert_episode(
    session: Session,
    *,
    actor: Actor,
    title_id: uuid.UUID,
    season_number: int,
    number: int,
    name: str = "",
    localizations: Mapping[str, Localized] | None = None,
    duration_seconds: int | None = None,
) -> Episode:
    """Create an episode of one of the actor's titles, or update the one at that number."""
    title = _title_for_write(session, actor, title_id)
    if not 0 <= season_number <= MAX_SEASON or not 0 <= number <= 100_000:
        raise InvalidInput(f"season must be 0-{MAX_SEASON} and episode number 0-100000")
    if season_number > 0:
        # Seasons appear by themselves for episodes delivered without one (sidecars).
        season, season_created = _ensure_season(session, title.id, season_number)
        if season_created:
            _record_season(session, actor, "season.created", title, season)
    episode = session.scalar(
        select(Episode).where(
            Episode.title_id == title.id,
            Episode.season_number == season_number,
            Episode.number == number,
        )
    )
    created = episode is None
    if episode is None:
        episode = Episode(title_id=title.id, season_number=season_number, number=number)
        session.add(episode)
    episode.name = name.strip()
    episode.duration_seconds = duration_seconds
    episode.localizations = {
        normalize_language(tag): {"title": loc.title.strip(), "synopsis": loc.synopsis.strip()}
        for tag, loc in (localizations or {}).items()
    }
    session.flush()
    # Episode names are searched as part of their title's document.
    index_title(session, title=title)
    action = "episode.created" if created else "episode.updated"
    audit_as(
        session,
        actor,
        action=action,
        subject=f"episode:{episode.id}",
        detail={"title_id": str(title.id), "season": season_number, "number": number},
    )
    record_change(
        session,
        org_id=title.org_id,
        kind=action,
        subject_type="episode",
        subject_id=str(episode.id),
        data={"title_id": str(title.id)},
    )
    return episode


# --- seasons ----------------------------------------------------------------------------


def list_seasons(
    session: Session,
    *,
    viewer_org_id: int,
    title_id: uuid.UUID,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """List a visible title's seasons by number, each with its episode count.

    A season is a `Season` row or a season number (above 0) that episodes use, so episodes
    stored before their season row existed still show up, unnamed.
    """
    get_title(session, viewer_org_id=viewer_org_id, title_id=title_id)
    numbers = union(
        select(Season.number.label("number")).where(Season.title_id == title_id),
        select(Episode.season_number.label("number")).where(
            Episode.title_id == title_id, Episode.season_number > 0
        ),
    ).subquery()
    counts = (
        select(Episode.season_number.label("number"), func.count().label("episodes"))
        .where(Episode.title_id == title_id)
        .group_by(Episode.season_number)
        .subquery()
    )
    stmt = (
        select(numbers.c.number, Season.name, func.coalesce(counts.c.episodes, 0))
        .select_from(numbers)
        .outerjoin(Season, and_(Season.title_id == title_id, Season.number == numbers.c.number))
        .outerjoin(counts, counts.c.number == numbers.c.number)
    )
    if cursor:
        (after,) = int_cursor(cursor, size=1)
        stmt = stmt.where(numbers.c.number > after)
    stmt = stmt.order_by(numbers.c.number).limit(limit + 1)
    views = [
        SeasonView(title_id=title_id, number=int(n), name=name or "", episode_count=int(count))
        for n, name, count in session.execute(stmt)
    ]
    return page_of(views, limit, lambda v: (v.number,))


def upsert_season(
    session: Session, *, actor: Actor, title_id: uuid.UUID, number: int, name: str = ""
) -> tuple[SeasonView, bool]:
    """Create a season of one of the actor's titles or rename it; say whether it is new."""
    title = _title_for_write(session, actor, title_id)
    _check_season_number(number)
    name = name.strip()
    if len(name) > MAX_SEASON_NAME:
        raise InvalidInput(f"a season name is at most {MAX_SEASON_NAME} characters")
    season, created = _ensure_season(session, title.id, number)
    season.name = name
    session.flush()
    _record_season(session, actor, "season.created" if created else "season.updated", title, season)
    view = SeasonView(
        title_id=title.id,
        number=number,
        name=season.name,
        episode_count=_episode_count(session, title.id, number),
    )
    return view, created


def delete_season(session: Session, *, actor: Actor, title_id: uuid.UUID, number: int) -> None:
    """Delete an empty season of one of the actor's titles; one with episodes is refused."""
    title = _title_for_write(session, actor, title_id)
    _check_season_number(number)
    # Episodes name their season by number only: deleting the row under them would leave
    # them in a season that lists again as soon as it is read, so refuse instead.
    episodes = _episode_count(session, title.id, number)
    if episodes:
        raise Conflict(
            f"season {number} still has {episodes} episode(s); only an empty season can be deleted"
        )
    season = _find_season(session, title.id, number)
    if season is None:
        raise NotFound(f"no season {number} in title {title_id}")
    _record_season(session, actor, "season.deleted", title, season)
    session.delete(season)
    session.flush()


def _check_season_number(number: int) -> None:
    if not 1 <= number <= MAX_SEASON:
        raise InvalidInput(f"season number must be 1-{MAX_SEASON}")


def _find_season(session: Session, title_id: uuid.UUID, number: int) -> Season | None:
    return session.scalar(
        select(Season).where(Season.title_id == title_id, Season.number == number)
    )


def _ensure_season(session: Session, title_id: uuid.UUID, number: int) -> tuple[Season, bool]:
    season = _find_season(session, title_id, number)
    if season is not None:
        return season, False
    season = Season(title_id=title_id, number=number, name="")
    try:
        with session.begin_nested():
            session.add(season)
            session.flush()
    except IntegrityError:
        # A concurrent request created it first (PostgreSQL; SQLite writers queue): use it.
        existing = _find_season(session, title_id, number)
        if existing is None:
            raise
        return existing, False
    return season, True


def _episode_count(session: Session, title_id: uuid.UUID, number: int) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(Episode)
        .where(Episode.title_id == title_id, Episode.season_number == number)
    )
    return int(count or 0)


def _record_season(
    session: Session, actor: Actor, action: str, title: Title, season: Season
) -> None:
    audit_as(
        session,
        actor,
        action=action,
        subject=f"season:{season.id}",
        detail={"title_id": str(title.id), "number": season.number, "name": season.name},
    )
    record_change(
        session,
        org_id=title.org_id,
        kind=action,
        subject_type="season",
        subject_id=str(season.id),
        data={"title_id": str(title.id), "number": season.number},
    )


# --- assets -----------------------------------------------------------------------------


def mark_asset_failed(session: Session, asset: Asset, reason: str) -> None:
    """Settle an asset as failed with a readable reason, and say so in the change feed."""
    asset.status = AssetStatus.FAILED
    asset.failure_reason = reason
    record_change(
        session,
        org_id=asset.org_id,
        kind="asset.failed",
        subject_type="asset",
        subject_id=str(asset.id),
        data={"reason": reason},
    )


def _visible_assets(viewer_org_id: int) -> ColumnElement[bool]:
    published = (
        select(AssetCatalog.asset_id)
        .join(Title, Title.id == AssetCatalog.title_id)
        .where(Title.status == TitleStatus.PUBLISHED)
    )
    return or_(Asset.org_id == viewer_org_id, Asset.id.in_(published))


def get_asset(session: Session, *, viewer_org_id: int, asset_id: uuid.UUID) -> AssetView:
    """Return an asset the viewer may see, with its renditions and catalog side."""
    asset = session.scalar(
        select(Asset)
        .where(Asset.id == asset_id, _visible_assets(viewer_org_id))
        .options(selectinload(Asset.renditions))
    )
    if asset is None:
        raise NotFound(f"no asset {asset_id}")
    return AssetView(asset=asset, catalog=session.get(AssetCatalog, asset.id))


def list_assets(
    session: Session,
    *,
    viewer_org_id: int,
    status: str | None = None,
    owner: str | None = None,
    metadata_state: str | None = None,
    title_id: uuid.UUID | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """List visible assets, newest first, filtered by status, owner, metadata state, title."""
    stmt = (
        select(Asset, AssetCatalog)
        .outerjoin(AssetCatalog, AssetCatalog.asset_id == Asset.id)
        .where(_visible_assets(viewer_org_id))
    )
    if status:
        stmt = stmt.where(Asset.status == parse_enum(AssetStatus, status, "status"))
    if owner:
        stmt = stmt.join(Organization, Organization.id == Asset.org_id).where(
            Organization.code == owner.strip().lower()
        )
    if title_id is not None:
        stmt = stmt.where(AssetCatalog.title_id == title_id)
    if metadata_state:
        state = parse_enum(MetadataState, metadata_state, "metadata_state")
        if state is MetadataState.NEEDS_METADATA:
            stmt = stmt.where(
                or_(
                    AssetCatalog.state == state,
                    and_(AssetCatalog.asset_id.is_(None), Asset.sidecar_key.is_(None)),
                )
            )
        elif state is MetadataState.PENDING:
            stmt = stmt.where(
                or_(
                    AssetCatalog.state == state,
                    and_(AssetCatalog.asset_id.is_(None), Asset.sidecar_key.is_not(None)),
                )
            )
        else:
            stmt = stmt.where(AssetCatalog.state == state)
    stmt = after_cursor(stmt, Asset.created_at, Asset.id, cursor)
    stmt = stmt.order_by(Asset.created_at.desc(), Asset.id.desc()).limit(limit + 1)
    stmt = stmt.options(selectinload(Asset.renditions))
    views = [AssetView(asset=a, catalog=c) for a, c in session.execute(stmt)]
    return page_of(views, limit, lambda v: (v.asset.created_at, v.asset.id))


def link_asset(
    session: Session,
    *,
    actor: Actor,
    asset_id: uuid.UUID,
    title_id: uuid.UUID,
    episode_id: uuid.UUID | None = None,
) -> AssetView:
    """Link one of the actor's assets to one of their titles (and episode)."""
    asset = session.get(Asset, asset_id)
    if asset is None or asset.org_id != actor.org_id:
        raise NotFound(f"no asset {asset_id}")
    title = _title_for_write(session, actor, title_id)
    if episode_id is not None:
        episode = session.get(Episode, episode_id)
        if episode is None or episode.title_id != title.id:
            raise NotFound(f"no episode {episode_id} in title {title_id}")
    link = set_asset_catalog(
        session,
        asset=asset,
        state=MetadataState.LINKED,
        title_id=title.id,
        episode_id=episode_id,
    )
    audit_as(
        session,
        actor,
        action="asset.linked",
        subject=f"asset:{asset.id}",
        detail={"title_id": str(title.id), "episode_id": str(episode_id) if episode_id else None},
    )
    record_change(
        session,
        org_id=asset.org_id,
        kind="asset.linked",
        subject_type="asset",
        subject_id=str(asset.id),
        data={"title_id": str(title.id)},
    )
    return AssetView(asset=asset, catalog=link)


def set_asset_catalog(
    session: Session,
    *,
    asset: Asset,
    state: MetadataState,
    title_id: uuid.UUID | None = None,
    episode_id: uuid.UUID | None = None,
    error: str | None = None,
) -> AssetCatalog:
    """Record what an asset belongs to and how its metadata fared."""
    link = session.get(AssetCatalog, asset.id)
    if link is None:
        link = AssetCatalog(asset_id=asset.id, org_id=asset.org_id)
        session.add(link)
    link.state = state
    if state is MetadataState.LINKED:
        link.title_id = title_id
        link.episode_id = episode_id
    link.error = error
    session.flush()
    return link


def screen_asset(
    session: Session,
    storage: ObjectStorage,
    *,
    actor: Actor,
    asset_id: uuid.UUID,
    expires_in: int = 900,
) -> list[ScreeningLink]:
    """Hand out short-lived URLs to an asset's proxy, thumbnails and storyboard, and log it."""
    if actor.role not in SCREENERS:
        raise PermissionDenied(f"the {actor.role or 'system'} role may not screen")
    view = get_asset(session, viewer_org_id=actor.org_id, asset_id=asset_id)
    links = [
        ScreeningLink(
            kind=r.kind,
            name=r.name,
            content_type=r.content_type,
            url=storage.presigned_get(r.object_key, expires_in=expires_in),
            expires_in=expires_in,
        )
        for r in sorted(view.asset.renditions, key=lambda r: (r.kind, r.name))
        if r.kind in SCREENING_KINDS
    ]
    if not links:
        raise NotFound(f"asset {asset_id} has no preview renditions yet")
    audit_as(
        session,
        actor,
        action="asset.screened",
        subject=f"asset:{view.asset.id}",
        detail={"owner_org_id": view.asset.org_id, "kinds": sorted({x.kind for x in links})},
    )
    return links

"""Search inside subtitles: each cue's text, folded across scripts like titles, to a timecode.

A track's cues are indexed when it is stored (`index_cues`) and replaced with it. A query is
folded by the same `normalize.terms` as the titles', so "Qorqyt ata" finds "Қорқыт ата" and
"Korkut" finds neither (no typo expansion here: cues are many, and a typo-tolerant scan of
every cue would cost more than the titles' whole search). Every word must match; the last
one may be the start of a word, as in the title search.

Hits are only from masters the viewer may see (`catalog.assets.visible_through_title`); each says
which asset and language matched and when, as the SMPTE timecode at the master's frame
rate (`frame_timecode`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    CTE,
    BindParameter,
    ColumnElement,
    Integer,
    Join,
    Select,
    String,
    Subquery,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    join,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session

from pool_core.catalog.assets import visible_through_title
from pool_core.models import Asset, AssetCatalog, SubtitleCue, SubtitleTrack, Title
from pool_core.search.normalize import MAX_QUERY_TERMS, terms
from pool_core.subtitles.convert import Cue

MAX_HITS = 100
DEFAULT_FRAME_RATE = 25.0


@dataclass(frozen=True)
class CueHit:
    """One cue that matched: where (asset, title, language) and when."""

    asset_id: uuid.UUID
    title_id: uuid.UUID | None
    language: str
    start: float
    end: float
    timecode: str
    text: str


@dataclass(frozen=True)
class CuePage:
    """The first hits (track by track, in time order) and how many hits each language has."""

    hits: list[CueHit]
    languages: dict[str, int]


def index_cues(session: Session, *, track: SubtitleTrack, cues: Sequence[Cue]) -> None:
    """Replace the track's cues in the index with these."""
    remove_cues(session, track_ids=[track.id])
    rows = [
        {
            "track_id": track.id,
            "asset_id": track.asset_id,
            "language": track.language,
            "start": cue.start,
            "end": cue.end,
            "text": cue.text,
            "terms": " ".join(terms(cue.text)),
        }
        for cue in cues
    ]
    if not rows:
        return
    session.execute(insert(SubtitleCue), rows)
    if _dialect(session) == "sqlite":
        session.execute(
            text(
                "INSERT INTO subtitle_cues_fts (rowid, terms) "
                "SELECT id, terms FROM subtitle_cues WHERE track_id = :track"
            ),
            {"track": track.id},
        )


def remove_cues(session: Session, *, track_ids: Sequence[int]) -> None:
    """Take these tracks' cues out of the index."""
    if not track_ids:
        return
    if _dialect(session) == "sqlite":
        session.execute(
            text(
                "DELETE FROM subtitle_cues_fts WHERE rowid IN "
                "(SELECT id FROM subtitle_cues WHERE track_id IN "
                f"({', '.join(str(int(t)) for t in track_ids)}))"
            )
        )
    session.execute(delete(SubtitleCue).where(SubtitleCue.track_id.in_(list(track_ids))))


def search_cues(
    session: Session,
    query: str,
    *,
    viewer_org_id: int,
    language: str | None = None,
    limit: int = 20,
    with_counts: bool = True,
) -> CuePage:
    """Cues whose text holds every word of `query`, from masters the viewer may see.

    Hits come in storage order, which is track by track and, within a track, by time (a
    track's cues are indexed sorted): the database stops at `limit` instead of reading and
    sorting every match. `with_counts` False leaves the per-language counts out (as you
    type); they read every match.
    """
    words = terms(query, limit=MAX_QUERY_TERMS)
    if not words:
        return CuePage(hits=[], languages={})
    dialect = _dialect(session)
    values: dict[str, Any] = {
        "match": _match_text(dialect, words),
        "viewer": viewer_org_id,
        "limit": max(1, min(limit, MAX_HITS)),
    }
    if language:
        values["language"] = language
    # Plain rows from the connection: the ORM would build an object per hit for nothing.
    connection = session.connection()
    counts = connection.execute(_counts(dialect), values).all() if with_counts else []
    hits = [
        CueHit(
            asset_id=row.asset_id,
            title_id=row.title_id,
            language=row.language,
            start=row.start,
            end=row.end,
            timecode=frame_timecode(row.start, _frame_rate(row.frame_rate)),
            text=row.text,
        )
        for row in connection.execute(_hits(dialect, bool(language)), values)
    ]
    return CuePage(hits=hits, languages={lang: int(n) for lang, n in counts})


@lru_cache(maxsize=8)
def _hits(dialect: str, by_language: bool) -> Select[Any]:
    """The first matching cues the viewer may see (built once per shape)."""
    matched = _matched(dialect)
    frame_rate = Asset.technical["video"]["frame_rate"].as_float()
    statement = (
        select(
            matched.c.asset_id,
            matched.c.language,
            matched.c.start,
            matched.c.end,
            matched.c.text,
            AssetCatalog.title_id,
            frame_rate.label("frame_rate"),
        )
        .select_from(_with_titles(matched))
        .where(_visible())
        # No ORDER BY: the index hands matches over in storage order, which is the order
        # tracks were indexed and, within a track, time order; sorting would read them all.
        .limit(bindparam("limit"))
    )
    if by_language:
        statement = statement.where(matched.c.language == bindparam("language"))
    return statement


@lru_cache(maxsize=4)
def _counts(dialect: str) -> Select[str, int]:
    """Matching cues the viewer may see, per language (built once per database)."""
    matched = _matched(dialect)
    return (
        select(matched.c.language, func.count())
        .select_from(_with_titles(matched))
        .where(_visible())
        .group_by(matched.c.language)
    )


def _matched(dialect: str) -> Subquery | CTE:
    """The cues holding the words, found through the full-text index.

    On PostgreSQL a materialised CTE: told only "20 rows, no order", the planner otherwise
    scans the table in storage order computing every cue's tsvector, betting on meeting 20
    hits early; for a rare word that reads every cue (105 ms on 540,000 cues). The CTE is
    still read lazily, so the index's bitmap is built and only the pages of the first hits
    are fetched.
    """
    columns = (
        SubtitleCue.id,
        SubtitleCue.asset_id,
        SubtitleCue.language,
        SubtitleCue.start,
        SubtitleCue.end,
        SubtitleCue.text,
    )
    if dialect == "sqlite":
        fts = table("subtitle_cues_fts", column("rowid"))
        found = select(fts.c.rowid).where(
            literal_column("subtitle_cues_fts").op("MATCH")(bindparam("match"))
        )
        return select(*columns).where(SubtitleCue.id.in_(found)).subquery("matched")
    vector = func.array_to_tsvector(func.string_to_array(SubtitleCue.terms, literal_column("' '")))
    holds = vector.op("@@")(cast(bindparam("match", type_=String), TSQUERY))
    return select(*columns).where(holds).cte("matched").prefix_with("MATERIALIZED")


def _with_titles(matched: Subquery | CTE) -> Join:
    """Each matched cue with its master and the master's title, if linked."""
    return (
        join(matched, Asset, Asset.id == matched.c.asset_id)
        .outerjoin(AssetCatalog, AssetCatalog.asset_id == matched.c.asset_id)
        .outerjoin(Title, Title.id == AssetCatalog.title_id)
    )


def _visible() -> ColumnElement[bool]:
    # Row by row on the joined title: no subquery over every published title per search.
    viewer: BindParameter[int] = bindparam("viewer", type_=Integer)
    return visible_through_title(viewer, owner_org_id=Asset.org_id, title_status=Title.status)


def _match_text(dialect: str, words: list[str]) -> str:
    """The full-text query: every word, the last one as a prefix (words are `[a-z0-9]+`)."""
    *whole, last = words
    if dialect == "sqlite":
        return " AND ".join([*(f'"{w}"' for w in whole), f'"{last}"*'])
    return " & ".join([*(f"'{w}'" for w in whole), f"'{last}':*"])


def frame_timecode(seconds: float, frame_rate: float) -> str:
    """The SMPTE timecode of the frame nearest `seconds`: `HH:MM:SS:FF`.

    At 29.97 and 59.94 fps the labels are drop-frame (`HH:MM:SS;FF`), as broadcasters label
    NTSC programmes, so the timecode stays with the clock (non-drop labels would run 3.6 s
    behind per hour).
    """
    nominal = round(frame_rate)
    frames = round(seconds * frame_rate)
    drop_frame = nominal in (30, 60) and abs(frame_rate - nominal * 1000 / 1001) < 0.01
    if drop_frame:
        # Labels ;00 and ;01 (;00-;03 at 60) are skipped each minute but every tenth.
        dropped = nominal // 15
        per_ten_minutes = round(frame_rate * 600)
        per_minute = nominal * 60 - dropped
        tens, rest = divmod(frames, per_ten_minutes)
        frames += dropped * 9 * tens + (
            dropped * ((rest - dropped) // per_minute) if rest >= dropped else 0
        )
    hours, rest = divmod(frames, 3600 * nominal)
    minutes, rest = divmod(rest, 60 * nominal)
    secs, frame = divmod(rest, nominal)
    separator = ";" if drop_frame else ":"
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{frame:02d}"


def _frame_rate(rate: float | None) -> float:
    return float(rate) if rate is not None and rate > 0 else DEFAULT_FRAME_RATE


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name

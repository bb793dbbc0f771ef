"""The change feed: what changed since a cursor, scoped to what the viewer may see.

Why the cursor carries gaps
---------------------------
Change ids come from a sequence (PostgreSQL) or the rowid (SQLite). On PostgreSQL ids are
handed out at INSERT but become visible at COMMIT, so transaction A may take id 10, B id 11,
B commits first: a reader at that moment sees 11 but not 10. A plain "id > last" cursor would
step over 10 for ever. Instead of blocking writers (a `LOCK TABLE ... SHARE` would make every
reader wait for the slowest writer, and every writer queue behind that reader), the cursor
remembers the *holes* below its high-water mark: ids it stepped over that were not visible
yet, each with the time it was first seen missing. The next read fetches `id > after` plus
`id IN holes`; a hole that fills is served then (late, so clients must treat the feed as
at-least-once and idempotent, which the sync does). A hole is forgotten after `GAP_TTL`: by
then its transaction either committed or rolled back (a rolled-back id never appears). Holes
are tracked on the *unscoped* id stream so an event the viewer may not see is not mistaken for
a hole. On SQLite there is one writer at a time, so ids commit in order and holes come only
from rollbacks; the same code serves both.

The cursor is opaque to clients (base64url JSON); its high-water mark only ever grows.

What another member reads
-------------------------
An event of the viewer's own organization is served whole. Another member's asset event is
served only as far as the catalog shows that master to everyone (`visible_data`): which title
and episode it belongs to, its file name, version, size, QC verdict and rendition count. Its
`/incoming` path, hashes, ingest warnings, failure text and sidecar read report stay with
the owner, and the kinds that only narrate the owner's ingest are not served at all
(`OWNER_ONLY_ASSET_KINDS`). The feed and the webhooks both go through this.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pool_core.common.pagination import decode_cursor, encode_cursor
from pool_core.errors import InvalidInput
from pool_core.models import (
    AssetCatalog,
    ChangeEvent,
    License,
    LicenseStatus,
    Title,
    TitleStatus,
)

# How long a hole below the cursor is waited for; longer than any transaction that records a
# change event is expected to stay open.
GAP_TTL_SECONDS = 600
# Holes kept in one cursor at most (the oldest are dropped first); bounds the cursor's size.
MAX_GAPS = 256
# Rows read per query while filtering for what the viewer may see.
SCAN_BATCH = 500
MAX_LIMIT = 1000
# Rows one call scans at most; a viewer who may see little gets an empty page and has_more.
MAX_SCAN = 20 * SCAN_BATCH

_BAD_CURSOR = "the change cursor is not one this server handed out"


# What another member may read in an asset event: the catalog's public side of a master.
PUBLIC_ASSET_DATA = frozenset(
    {
        "title_id",
        "episode_id",
        "filename",
        "version",
        "size",
        "qc_verdict",
        "renditions",
        # Subtitle tracks (asset.subtitle_added / _replaced): which language, in what form.
        "language",
        "subtitle_format",
        "cue_count",
    }
)
# Asset events that only narrate the owner's ingest: never served to other members.
OWNER_ONLY_ASSET_KINDS = frozenset(
    {
        "asset.ingest_warning",
        "asset.sidecar_linked",
        "asset.metadata_invalid",
        "asset.subtitle_rejected",
    }
)


@dataclass(frozen=True)
class FeedCursor:
    """High-water mark plus the holes below it (id → unix time first seen missing)."""

    after: int = 0
    gaps: tuple[tuple[int, int], ...] = ()

    def encode(self) -> str:
        """Serialise to the opaque string clients pass back."""
        return encode_cursor({"a": self.after, "g": [list(g) for g in self.gaps]})

    @classmethod
    def decode(cls, text: str | None) -> FeedCursor:
        """Parse a cursor string; empty means the beginning of the feed."""
        if not text:
            return cls()
        data = decode_cursor(text, message=_BAD_CURSOR)
        if not isinstance(data, dict):
            raise InvalidInput(_BAD_CURSOR)
        try:
            after = int(data["a"])
            gaps = tuple((int(g[0]), int(g[1])) for g in data.get("g", []))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise InvalidInput(_BAD_CURSOR) from exc
        if after < 0 or len(gaps) > MAX_GAPS:
            raise InvalidInput(_BAD_CURSOR)
        return cls(after=after, gaps=gaps)


@dataclass(frozen=True)
class ChangePage:
    """One page of the feed."""

    events: list[ChangeEvent]
    next_cursor: str
    # More events are available right now; ask again at once with `next_cursor`.
    has_more: bool


class _Visibility:
    """Decides, with a few batched queries, which events one organization may see."""

    def __init__(self, session: Session, viewer_org_id: int) -> None:
        self.session = session
        self.viewer = viewer_org_id
        # Titles the viewer holds (or held) a license for: asset events of these are theirs.
        self.licensed_titles = set(
            session.scalars(
                select(License.title_id).where(
                    License.licensee_org_id == viewer_org_id,
                    License.status == LicenseStatus.ACTIVE,
                )
            )
        )

    def filter(self, events: Sequence[ChangeEvent]) -> list[ChangeEvent]:
        """Return the events the viewer may see, in order."""
        asset_ids = {a for e in events if e.subject_type == "asset" and (a := _uuid(e.subject_id))}
        asset_titles: dict[uuid.UUID, uuid.UUID | None] = {}
        if asset_ids:
            for asset_id, title_id in self.session.execute(
                select(AssetCatalog.asset_id, AssetCatalog.title_id).where(
                    AssetCatalog.asset_id.in_(asset_ids)
                )
            ):
                asset_titles[asset_id] = title_id
        title_ids = {t for t in asset_titles.values() if t}
        for event in events:
            title_id = _event_title(event)
            if title_id is not None:
                title_ids.add(title_id)
        published: set[uuid.UUID] = set()
        if title_ids:
            published = set(
                self.session.scalars(
                    select(Title.id).where(
                        Title.id.in_(title_ids), Title.status == TitleStatus.PUBLISHED
                    )
                )
            )
        return [e for e in events if self._visible(e, asset_titles, published)]

    def _visible(
        self,
        event: ChangeEvent,
        asset_titles: dict[uuid.UUID, uuid.UUID | None],
        published: set[uuid.UUID],
    ) -> bool:
        if event.org_id == self.viewer:
            return True
        data = _data(event)
        if event.subject_type in ("license", "license_request"):
            return self.viewer in (data.get("licensor_org_id"), data.get("licensee_org_id"))
        if event.subject_type == "asset":
            if event.kind in OWNER_ONLY_ASSET_KINDS:
                return False
            # As in the catalog: a master linked to a published title is every member's to
            # see (downloading it is another matter: that needs a license).
            asset_id = _uuid(event.subject_id)
            title_id = asset_titles.get(asset_id) if asset_id else None
            return title_id is not None and (
                title_id in published or title_id in self.licensed_titles
            )
        if event.subject_type in ("title", "episode", "season"):
            return _event_title(event) in published
        # Anything else (uploads, files, jobs...) is the owning organization's business;
        # events without an owner are pool-wide announcements.
        return event.org_id is None


def visible_data(event: ChangeEvent, *, viewer_org_id: int) -> dict[str, Any]:
    """The event's data as `viewer_org_id` may read it (see "What another member reads")."""
    data = _data(event)
    if event.org_id is None or event.org_id == viewer_org_id:
        return dict(data)
    if event.subject_type == "asset":
        return {key: value for key, value in data.items() if key in PUBLIC_ASSET_DATA}
    # Titles, episodes and seasons carry ids and a status; licenses concern both parties.
    return dict(data)


def _event_title(event: ChangeEvent) -> uuid.UUID | None:
    if event.subject_type == "title":
        return _uuid(event.subject_id)
    if event.subject_type in ("episode", "season"):
        return _uuid(str(_data(event).get("title_id")))
    return None


def _data(event: ChangeEvent) -> dict[str, Any]:
    return event.data if isinstance(event.data, dict) else {}


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def head_cursor(session: Session) -> str:
    """Return a cursor at the current end of the feed (for subscribers who want no history)."""
    last = session.scalar(select(func.max(ChangeEvent.id))) or 0
    return FeedCursor(after=int(last)).encode()


def list_changes(
    session: Session,
    *,
    viewer_org_id: int,
    cursor: str | None,
    limit: int = 100,
    now: float | None = None,
) -> ChangePage:
    """Return the next changes the viewer may see after `cursor`, oldest first."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}")
    state = FeedCursor.decode(cursor)
    now_s = int(now if now is not None else time.time())
    gaps = {gid: seen for gid, seen in state.gaps if now_s - seen < GAP_TTL_SECONDS}
    visibility = _Visibility(session, viewer_org_id)
    served: list[ChangeEvent] = []

    if gaps:
        filled = list(
            session.scalars(
                select(ChangeEvent).where(ChangeEvent.id.in_(list(gaps))).order_by(ChangeEvent.id)
            )
        )
        for event in filled:
            gaps.pop(event.id, None)
        served.extend(visibility.filter(filled))

    after = state.after
    has_more = False
    scanned = 0
    while len(served) < limit:
        batch = list(
            session.scalars(
                select(ChangeEvent)
                .where(ChangeEvent.id > after)
                .order_by(ChangeEvent.id)
                .limit(SCAN_BATCH)
            )
        )
        if not batch:
            break
        visible = {e.id for e in visibility.filter(batch)}
        stop_at = len(batch)
        for index, event in enumerate(batch):
            if event.id in visible:
                served.append(event)
                if len(served) >= limit:
                    stop_at = index + 1
                    break
        consumed = batch[:stop_at]
        expected = after + 1
        for event in consumed:
            for missing in range(expected, event.id):
                gaps.setdefault(missing, now_s)
            expected = event.id + 1
        after = consumed[-1].id
        scanned += len(consumed)
        if stop_at < len(batch):
            has_more = True
            break
        if len(batch) < SCAN_BATCH:
            has_more = False
            break
        # A full batch: there may be more; keep scanning unless this call did enough work.
        has_more = True
        if scanned >= MAX_SCAN:
            break

    kept = sorted(gaps.items())[-MAX_GAPS:]
    next_cursor = FeedCursor(after=after, gaps=tuple(kept)).encode()
    return ChangePage(events=served, next_cursor=next_cursor, has_more=has_more)


def pending_gap_ids(cursor: str) -> list[int]:
    """Return the ids a cursor is still waiting for (for diagnostics and tests)."""
    return [gid for gid, _ in FeedCursor.decode(cursor).gaps]


__all__ = [
    "GAP_TTL_SECONDS",
    "ChangePage",
    "FeedCursor",
    "head_cursor",
    "list_changes",
    "pending_gap_ids",
    "visible_data",
]

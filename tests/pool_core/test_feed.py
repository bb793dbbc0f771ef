"""Change feed: scoping per viewer, paging, and ids that commit out of order."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.errors import InvalidInput
from pool_core.models import ChangeEvent, TitleStatus
from pool_core.services import feed
from pool_core.services.changes import record_change
from tests.pool_core.test_licensing import build_world, grant, make_title, open_window


def drain(
    database: Database, org_id: int, cursor: str = "", limit: int = 100
) -> tuple[list[ChangeEvent], str]:
    """Read the feed until has_more is false."""
    events: list[ChangeEvent] = []
    with database.session() as session:
        while True:
            page = feed.list_changes(session, viewer_org_id=org_id, cursor=cursor, limit=limit)
            events.extend(page.events)
            cursor = page.next_cursor
            if not page.has_more:
                return events, cursor


def test_feed_is_scoped_to_what_the_viewer_may_see(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        ids = {"buyer": w.buyer.id, "rival": w.rival.id, "owner": w.owner.id}
        open_window(session, w)
        draft = make_title(session, w.owner, "Draft", status=TitleStatus.DRAFT)
        record_change(
            session,
            org_id=w.owner.id,
            kind="title.updated",
            subject_type="title",
            subject_id=str(draft.id),
        )
        record_change(
            session,
            org_id=w.owner.id,
            kind="title.updated",
            subject_type="title",
            subject_id=str(w.title.id),
        )
        for title in (draft, w.title):
            record_change(
                session,
                org_id=w.owner.id,
                kind="season.created",
                subject_type="season",
                subject_id=f"season-of-{title.id}",
                data={"title_id": str(title.id), "number": 1},
            )
        record_change(
            session, org_id=w.owner.id, kind="upload.completed", subject_type="file", subject_id="x"
        )
        record_change(
            session,
            org_id=w.owner.id,
            kind="asset.ready",
            subject_type="asset",
            subject_id=str(w.assets[0].id),
        )
        license_ = grant(session, w, w.buyer_editor)
    buyer_events, _ = drain(database, ids["buyer"])
    buyer_kinds = [(e.kind, e.subject_id) for e in buyer_events]
    assert ("title.updated", str(w.title.id)) in buyer_kinds
    assert ("title.updated", str(draft.id)) not in buyer_kinds
    # Seasons follow their title: the published one's is shared, the draft's is not.
    assert ("season.created", f"season-of-{w.title.id}") in buyer_kinds
    assert ("season.created", f"season-of-{draft.id}") not in buyer_kinds
    assert ("asset.ready", str(w.assets[0].id)) in buyer_kinds
    assert ("license.granted", str(license_.id)) in buyer_kinds
    assert all(k != "upload.completed" for k, _ in buyer_kinds)

    rival_kinds = [e.kind for e in drain(database, ids["rival"])[0]]
    assert "license.granted" not in rival_kinds and "license.requested" not in rival_kinds
    assert "title.updated" in rival_kinds

    owner_kinds = [e.kind for e in drain(database, ids["owner"])[0]]
    assert {"upload.completed", "license.granted", "license.requested"} <= set(owner_kinds)
    # The draft's event is visible to its owner.
    assert owner_kinds.count("title.updated") == 2


def test_paging_is_monotonic_and_complete(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        for n in range(25):
            record_change(
                session,
                org_id=w.owner.id,
                kind="upload.completed",
                subject_type="file",
                subject_id=str(n),
            )
        owner_id = w.owner.id
    events, cursor = drain(database, owner_id, limit=7)
    subject_ids = [e.subject_id for e in events if e.kind == "upload.completed"]
    assert subject_ids == [str(n) for n in range(25)]
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # Nothing new: an empty page, same high-water mark.
    more, again = drain(database, owner_id, cursor=cursor)
    assert more == []
    assert feed.FeedCursor.decode(again).after == feed.FeedCursor.decode(cursor).after


def test_late_committed_ids_below_the_cursor_are_still_served(database: Database) -> None:
    with database.write_session() as session:
        w = build_world(session)
        owner_id = w.owner.id
        top = session.scalar(select(ChangeEvent.id).order_by(ChangeEvent.id.desc())) or 0
        # Ids top+1 and top+3 commit; top+2 is "still in flight".
        for offset in (1, 3):
            session.add(
                ChangeEvent(
                    id=top + offset,
                    org_id=owner_id,
                    kind="asset.ready",
                    subject_type="file",
                    subject_id=f"f{offset}",
                )
            )
    events, cursor = drain(database, owner_id)
    assert [e.subject_id for e in events][-2:] == ["f1", "f3"]
    assert feed.pending_gap_ids(cursor) == [top + 2]
    with database.write_session() as session:
        session.add(
            ChangeEvent(
                id=top + 2,
                org_id=owner_id,
                kind="asset.ready",
                subject_type="file",
                subject_id="f2",
            )
        )
    late, cursor = drain(database, owner_id, cursor=cursor)
    assert [e.subject_id for e in late] == ["f2"]
    assert feed.pending_gap_ids(cursor) == []


def test_gaps_are_forgotten_after_their_ttl(database: Database) -> None:
    with database.write_session() as session:
        w = build_world(session)
        top = session.scalar(select(ChangeEvent.id).order_by(ChangeEvent.id.desc())) or 0
        session.add(
            ChangeEvent(
                id=top + 2, org_id=w.owner.id, kind="k", subject_type="file", subject_id="x"
            )
        )
        owner_id = w.owner.id
    with database.session() as session:
        page = feed.list_changes(session, viewer_org_id=owner_id, cursor="", limit=1000)
        assert feed.pending_gap_ids(page.next_cursor) == [top + 1]
        later = time.time() + feed.GAP_TTL_SECONDS + 1
        page = feed.list_changes(
            session, viewer_org_id=owner_id, cursor=page.next_cursor, now=later
        )
        assert feed.pending_gap_ids(page.next_cursor) == []


def test_bad_cursor_is_invalid_input(database: Database) -> None:
    with database.session() as session, pytest.raises(InvalidInput):
        feed.list_changes(session, viewer_org_id=1, cursor="not-a-cursor", limit=10)


def test_postgresql_out_of_order_commit_is_not_skipped(pg_database: Database) -> None:
    """Two real transactions: the lower id commits after a reader passed it."""
    with pg_database.session() as session:
        w = build_world(session)
        owner_id = w.owner.id
    _, cursor = drain(pg_database, owner_id)
    slow = pg_database.session_factory()
    try:
        slow_event = record_change(
            slow, org_id=owner_id, kind="asset.ready", subject_type="file", subject_id="slow"
        )
        with pg_database.session() as fast:
            fast_event = record_change(
                fast, org_id=owner_id, kind="asset.ready", subject_type="file", subject_id="fast"
            )
        assert slow_event.id < fast_event.id
        seen, cursor = drain(pg_database, owner_id, cursor=cursor)
        assert [e.subject_id for e in seen] == ["fast"]
        slow.commit()
    finally:
        slow.close()
    seen, cursor = drain(pg_database, owner_id, cursor=cursor)
    assert [e.subject_id for e in seen] == ["slow"]

"""Where one search's time goes, in-process: each SQL statement in the database, and the rest.

Used by `python -m bench.search --profile`. The API's search is run directly (no HTTP) for
every benchmark query, facets off and on; the engine's cursor events time each statement in
the database (driver included), and what is left of the wall time is Python: building the
statements, SQLAlchemy's ORM loading, our scoring inputs and the rights of the page.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import event, select

from pool_core.db import Database
from pool_core.models import Organization
from pool_core.search.availability import availability_of
from pool_core.search.engine import search_titles


def statement_kind(sql: str) -> str:
    """A short, stable name for a statement: its first words after folding whitespace."""
    return " ".join(sql.split())[:60]


def profile(name: str, url: str, queries: list[str]) -> None:
    """Print, per search, the wall time, the time inside the database and the Python rest."""
    db = Database(url)
    spent: dict[str, list[float]] = defaultdict(list)
    started: list[float] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def before(*_: Any) -> None:
        started.append(time.perf_counter())

    @event.listens_for(db.engine, "after_cursor_execute")
    def after(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        spent[statement_kind(sql)].append((time.perf_counter() - started.pop()) * 1000)

    with db.session() as session:
        viewer = session.scalar(select(Organization.id).where(Organization.code == "uztv"))
    assert viewer is not None
    for facets in (False, True):
        for query in queries[:50]:  # warm the statement caches
            _search(db, viewer, query, facets)
        spent.clear()
        walls = [_search(db, viewer, query, facets) for query in queries]
        in_db = sum(sum(times) for times in spent.values())
        mean = statistics.fmean(walls)
        label = "on" if facets else "off"
        print(
            f"  {name} profile, facets {label}: {mean:.2f} ms per search in-process, "
            f"{in_db / len(walls):.2f} ms of it in the database, "
            f"{mean - in_db / len(walls):.2f} ms in Python"
        )
        for kind, times in sorted(spent.items(), key=lambda kv: -sum(kv[1]))[:6]:
            print(f"    {sum(times) / len(walls):6.2f} ms/search  x{len(times):<5} {kind}")
    db.dispose()


def _search(db: Database, viewer: int, query: str, facets: bool) -> float:
    with db.session() as session:
        started = time.perf_counter()
        page = search_titles(session, viewer_org_id=viewer, query=query, with_facets=facets)
        availability_of(session, titles=[h.title for h in page.hits], viewer_org_id=viewer)
        return (time.perf_counter() - started) * 1000

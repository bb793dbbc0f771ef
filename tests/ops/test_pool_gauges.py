"""Pool-wide gauges come from one node at a time (PostgreSQL: an advisory lock)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from pool_core.db import Database
from pool_core.ops.pool import PoolCollector
from tests.fixtures.orgs import make_org


def _exported(collector: PoolCollector) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()


def test_one_worker_exports_and_another_takes_over_when_it_stops(pg_database: Database) -> None:
    with pg_database.session() as session:
        make_org(session, "kztv", name="KZ TV", country="KZ")
    other = Database(pg_database.url)
    first, second = PoolCollector(pg_database), PoolCollector(other)
    try:
        assert 'jointpool_storage_bytes{kind="masters",org="kztv"} 0.0' in _exported(first)
        assert _exported(second) == ""
        first.close()
        assert "jointpool_licenses" in _exported(second)
        assert _exported(first) == ""  # the lock is the second's now
    finally:
        first.close()
        second.close()
        other.dispose()


def test_a_lone_worker_exports_them(database: Database) -> None:
    with database.session() as session:
        make_org(session, "uztv", name="UZ TV", country="UZ")
    collector = PoolCollector(database)
    text = _exported(collector)
    collector.close()
    assert 'jointpool_storage_bytes{kind="staging",org="uztv"} 0.0' in text
    assert 'jointpool_licenses{state="active"} 0.0' in text
    assert "jointpool_webhook_deliveries_failed 0.0" in text
    assert "jointpool_queue_oldest_waiting_seconds 0.0" in text

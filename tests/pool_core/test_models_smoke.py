"""The schema creates on each backend and timestamps come back timezone-aware."""

from __future__ import annotations

from datetime import UTC

from pool_core.db import Database
from pool_core.models import Organization


def test_timestamps_round_trip_as_aware_utc(database: Database) -> None:
    with database.write_session() as session:
        session.add(Organization(code="aztv", name="AzTV", country="AZ"))
    with database.session() as session:
        org = session.query(Organization).filter_by(code="aztv").one()
        assert org.created_at.tzinfo is not None
        assert org.created_at.utcoffset() == UTC.utcoffset(None)

"""Running pool processes (FTP nodes, API servers, workers), as their heartbeats report them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pool_core.models.base import Base, UTCDateTime, uuidpk


class Node(Base):
    """One process of the pool; its row is refreshed every heartbeat and deleted on clean stop."""

    __tablename__ = "nodes"

    id: Mapped[uuidpk]
    # ftp | api | worker
    kind: Mapped[str] = mapped_column(String(16))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Where the node serves (host:port), when it serves anything.
    address: Mapped[str | None] = mapped_column(Text, nullable=True)

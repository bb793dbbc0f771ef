"""Renditions of a master superseded or rejected while it was transcoded are deleted at once.

Issue 12: a continuation supersedes a short master (its asset and jobs are deleted), or a
sidecar that arrives meanwhile rejects it; the worker finds that when it settles, after it
has uploaded the renditions, which then belong to nobody. They must not wait for maintenance.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pool_core.db import Database
from pool_core.models import Asset, AssetStatus
from pool_core.queue.service import claim
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.declared import reject
from pool_core.uploads.settle import supersede
from tests.fixtures.media import MediaFactory
from tests.transcode.helpers import make_asset
from transcode.service import Fence, LeaseLost, transcode_asset


def _on_first_rendition(
    monkeypatch: pytest.MonkeyPatch, storage: S3Storage, action: Callable[[], None]
) -> list[str]:
    """Run `action` when the worker stores its first rendition (the worker is mid-transcode)."""
    stored: list[str] = []
    put = storage.put

    def put_then_act(key: str, *args: Any, **kwargs: Any) -> Any:
        result = put(key, *args, **kwargs)
        if key.startswith("renditions/") and not stored:
            action()
        stored.append(key)
        return result

    monkeypatch.setattr(storage, "put", put_then_act)
    return stored


def test_renditions_of_a_master_rejected_mid_transcode_are_deleted(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asset_id = make_asset(database, storage, media.path("h264_stereo_mp4"))

    def rejected() -> None:
        with database.write_session() as session:
            asset = session.get(Asset, uuid.UUID(asset_id))
            assert asset is not None
            reject(session, asset, "checksum mismatch: the sidecar declares another SHA-256")

    stored = _on_first_rendition(monkeypatch, storage, rejected)
    result = transcode_asset(db=database, storage=storage, settings=tc_settings, asset_id=asset_id)
    assert result is None
    assert stored, "the worker stored no rendition"
    assert list(storage.list(f"renditions/{asset_id}/")) == []
    with database.session() as session:
        asset = session.get(Asset, uuid.UUID(asset_id))
        assert asset is not None and asset.status is AssetStatus.FAILED
        assert list(asset.renditions) == []


def test_renditions_of_a_master_superseded_mid_transcode_are_deleted(
    database: Database,
    storage: S3Storage,
    tc_settings: Settings,
    media: MediaFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asset_id = make_asset(database, storage, media.path("h264_stereo_mp4"), enqueue=True)
    job = claim(database, worker_id="worker-1", kinds=["transcode"], lease_seconds=120)
    assert job is not None
    fence = Fence(job_id=job.id, worker_id="worker-1", attempt=job.attempts)

    def superseded() -> None:
        # What a continuation's commit does: the asset and its jobs (this one) go.
        with database.write_session() as session:
            asset = session.get(Asset, uuid.UUID(asset_id))
            assert asset is not None
            supersede(session, asset=asset)

    stored = _on_first_rendition(monkeypatch, storage, superseded)
    with pytest.raises(LeaseLost):
        transcode_asset(
            db=database, storage=storage, settings=tc_settings, asset_id=asset_id, fence=fence
        )
    assert stored, "the worker stored no rendition"
    assert list(storage.list(f"renditions/{asset_id}/")) == []

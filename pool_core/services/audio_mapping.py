"""A per-asset choice of the proxy's stereo programme mix, replacing the layout rule.

Stored in `Asset.technical["audio_mapping"]` (the transcoder carries it over each new probe),
so it needs no schema change. Shapes (1-based numbers, as the probe's `track` field):

    {"track": 3}                        track 3 by the rule for its layout
    {"track": 1, "channels": [3, 4]}    channels 3+4 of track 1 as L/R
    {"left": 5, "right": 6}             track 5 left, track 6 right
    null                                back to the rule

Setting it queues a fresh transcode (unless one is already queued, which will read it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core import queue
from pool_core.catalog.inputs import AssetView
from pool_core.catalog.titles import require_writer
from pool_core.common.actor import Actor, audit_as
from pool_core.errors import InvalidInput, NotFound
from pool_core.models import Asset, AssetCatalog, Job, JobStatus

MAPPING_KEY = "audio_mapping"
TRANSCODE_JOB = "transcode"


class MappingError(InvalidInput, ValueError):
    """An audio mapping names tracks or channels the master does not have."""


@dataclass(frozen=True)
class AudioMapping:
    """A per-asset choice that replaces the rule (1-based track and channel numbers)."""

    track: int | None = None
    channels: tuple[int, int] | None = None
    left: int | None = None
    right: int | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> AudioMapping | None:
        """Read the stored JSON form (None when there is no override)."""
        if not data:
            return None
        channels = data.get("channels")
        return cls(
            track=data.get("track"),
            channels=(int(channels[0]), int(channels[1])) if channels else None,
            left=data.get("left"),
            right=data.get("right"),
        )

    def as_dict(self) -> dict[str, Any]:
        """The stored JSON form."""
        if self.left is not None or self.right is not None:
            return {"left": self.left, "right": self.right}
        data: dict[str, Any] = {"track": self.track}
        if self.channels is not None:
            data["channels"] = list(self.channels)
        return data

    def check(self, tracks: list[dict[str, Any]]) -> None:
        """Raise MappingError unless every track and channel named exists in `tracks`."""
        by_number = {int(t.get("track") or 0): t for t in tracks}
        pair = self.left is not None or self.right is not None
        if pair and (self.track is not None or self.channels is not None):
            raise MappingError("give either track (and channels) or left and right, not both")
        named = [self.left, self.right] if pair else [self.track]
        for number in named:
            if number is None or number not in by_number:
                raise MappingError(f"the master has no audio track {number} (it has {len(tracks)})")
        if self.channels is not None and self.track is not None:
            count = int(by_number[self.track]["channels"])
            if not all(1 <= channel <= count for channel in self.channels):
                left, right = self.channels
                raise MappingError(
                    f"audio track {self.track} has {count} channel(s), not {left}+{right}"
                )


def update_audio_mapping(
    session: Session,
    *,
    actor: Actor,
    asset_id: uuid.UUID,
    mapping: AudioMapping | None,
) -> AssetView:
    """Set (or clear, with None) one of the actor's assets' audio mapping; queue a re-render."""
    asset = session.get(Asset, asset_id)
    if asset is None or asset.org_id != actor.org_id:
        raise NotFound(f"no asset {asset_id}")
    require_writer(actor)
    technical = dict(asset.technical or {})
    if mapping is not None:
        if "audio" not in technical:
            raise InvalidInput("the master has not been probed yet; try again when it is ready")
        mapping.check(technical["audio"])
        technical[MAPPING_KEY] = mapping.as_dict()
    else:
        technical.pop(MAPPING_KEY, None)
    asset.technical = technical
    _queue_transcode(session, asset)
    audit_as(
        session,
        actor,
        action="asset.audio_mapping",
        subject=f"asset:{asset.id}",
        detail={MAPPING_KEY: technical.get(MAPPING_KEY)},
    )
    session.flush()
    return AssetView(asset=asset, catalog=session.get(AssetCatalog, asset.id))


def _queue_transcode(session: Session, asset: Asset) -> None:
    # A queued job reads the mapping when it starts; a running one read the old one, so a
    # new job follows it.
    queued = session.scalars(
        select(Job).where(Job.kind == TRANSCODE_JOB, Job.status == JobStatus.QUEUED)
    )
    if not any(str(job.payload.get("asset_id")) == str(asset.id) for job in queued):
        queue.enqueue(
            session, kind=TRANSCODE_JOB, payload={"asset_id": str(asset.id)}, org_id=asset.org_id
        )

"""Subtitle tracks: storing a delivered file with its WebVTT, by FTP (a job) or by the API.

By FTP, `<master base>.<lang>.<ext>` next to a master is queued as an `ingest_subtitle` job
when both are there, whichever came first (`pool_core.services.ingest`). The job reads the
file, keeps the original as delivered and a WebVTT rendition under immutable keys, and creates
or replaces the master's track for that language. A file that cannot be read is answered like
a refused sidecar: `<file name>.errors.txt` in the uploader's folder says why, in plain words,
the file itself stays where it was, and a later, readable file replaces the errors.

The owner may also PUT a track through the API (`store_track`), with the same reading and the
same events: `asset.subtitle_added` or `asset.subtitle_replaced`, which other members see when
they see the master, and `asset.subtitle_rejected`, which only the owner sees.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core.common.actor import Actor, audit_as
from pool_core.db import Database
from pool_core.errors import JobError, NotFound
from pool_core.files import tree
from pool_core.models import Asset, Organization, ReleasedObject, SubtitleTrack
from pool_core.names import split_path
from pool_core.queue import JobContext
from pool_core.search.cues import index_cues
from pool_core.services.changes import record_change
from pool_core.services.errors_files import ERRORS_SUFFIX, remove_errors_file, write_errors_file
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage
from pool_core.subtitles.convert import MAX_SUBTITLE_BYTES, SubtitleError, convert, sniff_format
from pool_core.subtitles.naming import parse_subtitle_name
from pool_core.subtitles.qc import master_findings, reading_findings

SUBTITLE_JOB = "ingest_subtitle"
ORIGINAL_CONTENT_TYPES = {
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "ttml": "application/ttml+xml",
    "stl": "application/octet-stream",
    "scc": "text/plain",
}
VTT_CONTENT_TYPE = "text/vtt; charset=utf-8"


def build_handlers(
    settings: Settings, db: Database, storage: ObjectStorage
) -> dict[str, Callable[[JobContext], None]]:
    """The job handlers of subtitle ingest: `{"ingest_subtitle": handler}`."""

    def handle(ctx: JobContext) -> None:
        try:
            asset_id = uuid.UUID(str(ctx.payload["asset_id"]))
            path = str(ctx.payload["path"])
        except (KeyError, ValueError) as exc:
            raise JobError(
                f"{SUBTITLE_JOB} payload needs asset_id and path: {ctx.payload!r}"
            ) from exc
        user_id = ctx.payload.get("user_id")
        with db.session() as session:
            ingest_subtitle_file(
                session,
                storage,
                asset_id=asset_id,
                path=path,
                user_id=int(user_id) if user_id is not None else None,
            )

    return {SUBTITLE_JOB: handle}


def ingest_subtitle_file(
    session: Session,
    storage: ObjectStorage,
    *,
    asset_id: uuid.UUID,
    path: str,
    user_id: int | None = None,
) -> SubtitleTrack | None:
    """Make the file at `path` the master's track for its language, or say why it is not."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise JobError(f"asset {asset_id} no longer exists")
    entry = tree.get_entry(session, org_id=asset.org_id, path=path)
    named = parse_subtitle_name(split_path(path)[1])
    if entry is None or entry.object_key is None or named is None:
        # Deleted or renamed before the job ran: the newer state has its own job, if any.
        return None
    # One byte more than allowed, so an oversized file is refused without reading it all.
    data = storage.get(entry.object_key, start=0, end=MAX_SUBTITLE_BYTES)
    try:
        track = store_track(
            session,
            storage,
            asset=asset,
            language=named.language,
            filename=entry.name,
            data=data,
            fmt=sniff_format(data) or named.format,
            source="ftp",
            uploaded_by=user_id,
        )
    except SubtitleError as exc:
        _refuse(session, storage, asset, path, exc)
        return None
    remove_errors_file(session, org_id=asset.org_id, path=errors_file_path(path))
    return track


def store_track(
    session: Session,
    storage: ObjectStorage,
    *,
    asset: Asset,
    language: str,
    filename: str,
    data: bytes,
    fmt: str,
    source: str,
    uploaded_by: int | None,
) -> SubtitleTrack:
    """Read `data` and make it the asset's track for `language` (raises `SubtitleError`)."""
    org = session.get(Organization, asset.org_id)
    conversion = convert(data, filename=filename, fmt=fmt, country=org.country if org else "")
    original_sha = hashlib.sha256(data).hexdigest()
    vtt = conversion.webvtt.encode("utf-8")
    folder = f"subtitles/{asset.id}/{language}/{original_sha[:16]}"
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else fmt
    original_key = f"{folder}/original.{ext}"
    vtt_key = f"{folder}/subtitles.vtt"
    # Before the row: a rolled-back transaction leaves orphan objects, never a row without bytes.
    storage.put(original_key, data, content_type=ORIGINAL_CONTENT_TYPES.get(fmt))
    storage.put(vtt_key, vtt, content_type=VTT_CONTENT_TYPE)
    track = _find_track(session, asset, language)
    replaced = track is not None
    if track is None:
        track = SubtitleTrack(asset_id=asset.id, org_id=asset.org_id, language=language)
        session.add(track)
    else:
        for key, size in (
            (track.original_key, track.original_size),
            (track.vtt_key, track.vtt_size),
        ):
            if key not in (original_key, vtt_key):
                session.add(ReleasedObject(org_id=asset.org_id, object_key=key, size=size))
    track.format = fmt
    track.source = source
    track.uploaded_by = uploaded_by
    track.original_name = filename
    track.original_key = original_key
    track.original_size = len(data)
    track.original_sha256 = original_sha
    track.vtt_key = vtt_key
    track.vtt_size = len(vtt)
    track.vtt_sha256 = hashlib.sha256(vtt).hexdigest()
    track.encoding = conversion.encoding
    track.frame_rate = conversion.frame_rate
    track.cue_count = len(conversion.cues)
    track.first_cue_start = conversion.cues[0].start
    track.last_cue_end = max(c.end for c in conversion.cues)
    track.findings = reading_findings(conversion)
    session.flush()
    index_cues(session, track=track, cues=conversion.cues)
    event = "asset.subtitle_replaced" if replaced else "asset.subtitle_added"
    detail = {"language": language, "subtitle_format": fmt, "cue_count": track.cue_count}
    audit_as(
        session,
        Actor.system(org_id=asset.org_id, on_behalf_of=uploaded_by),
        action=event,
        subject=f"asset:{asset.id}",
        detail={**detail, "file": filename, "source": source},
    )
    record_change(
        session,
        org_id=asset.org_id,
        kind=event,
        subject_type="asset",
        subject_id=str(asset.id),
        data={**detail, "file": filename},
    )
    return track


def track_findings(track: SubtitleTrack, asset: Asset) -> list[dict[str, Any]]:
    """All QC findings of a track: from reading it, and against its master as probed now."""
    return [
        *track.findings,
        *master_findings(
            last_cue_end=track.last_cue_end,
            frame_rate=track.frame_rate,
            fmt=track.format,
            technical=asset.technical or {},
        ),
    ]


def list_tracks(session: Session, asset: Asset) -> list[SubtitleTrack]:
    """The asset's tracks, by language."""
    return list(
        session.scalars(
            select(SubtitleTrack)
            .where(SubtitleTrack.asset_id == asset.id)
            .order_by(SubtitleTrack.language)
        )
    )


def get_track(session: Session, asset: Asset, language: str) -> SubtitleTrack:
    """The asset's track for `language` (raises NotFound)."""
    track = _find_track(session, asset, language)
    if track is None:
        raise NotFound(f"asset {asset.id} has no {language} subtitles")
    return track


def _find_track(session: Session, asset: Asset, language: str) -> SubtitleTrack | None:
    return session.scalar(
        select(SubtitleTrack).where(
            SubtitleTrack.asset_id == asset.id, SubtitleTrack.language == language
        )
    )


def errors_file_path(path: str) -> str:
    """Where the readable errors of the subtitle file at `path` go: beside it."""
    return f"{path}{ERRORS_SUFFIX}"


def _refuse(
    session: Session, storage: ObjectStorage, asset: Asset, path: str, exc: SubtitleError
) -> None:
    folder, name = split_path(path)
    text = (
        f"{exc}\n\nThe file was kept as {name}; the master {asset.filename} has no "
        "subtitles in this language until a readable file replaces it. Accepted: SRT, "
        "WebVTT, TTML/EBU-TT, EBU STL and SCC, named <master name>.<language>.<extension>, "
        "for example ep01.kk-Cyrl.srt.\n"
    )
    write_errors_file(
        session,
        storage,
        org_id=asset.org_id,
        path=errors_file_path(path),
        text=text,
        asset_id=asset.id,
    )
    audit_as(
        session,
        Actor.system(org_id=asset.org_id, on_behalf_of=asset.uploaded_by),
        action="asset.subtitle_rejected",
        subject=f"asset:{asset.id}",
        detail={"file": name, "folder": folder, "problems": exc.problems[:20]},
    )
    record_change(
        session,
        org_id=asset.org_id,
        kind="asset.subtitle_rejected",
        subject_type="asset",
        subject_id=str(asset.id),
        data={"file": name, "problems": exc.problems[:20]},
    )

"""Subtitle streams inside a master become its subtitle tracks (the `extract_subtitles` job).

Queued when a transcode makes the master ready and its probe found subtitle streams. Each
stream ffmpeg can turn into text is extracted and stored like a delivered file
(`pool_core.services.subtitles.store_track`, source `embedded`): text streams (mov_text in
MP4/MOV, SubRip, ASS/SSA and WebVTT in Matroska) as SubRip, and CEA-608 caption tracks
(`eia_608`, the `c608` track of a MOV) copied out as SCC. Captions carried only inside the
video bitstream (CEA-608/708 in H.264 SEI) and picture subtitles (DVB, PGS, DVD) are not
extracted: the first needs a second decode of the whole video, the second OCR; the probe
still lists them on the asset.

A track the owner delivered (by FTP or the API) for a language wins over an embedded stream
of that language; the first stream of a language wins over later ones. A stream that cannot
be read becomes an ingest warning on the asset, not a failed job.
"""

from __future__ import annotations

import logging
import subprocess
import uuid
from collections.abc import Mapping
from typing import Any

from babel.core import get_global
from sqlalchemy.orm import Session

from pool_core.catalog.rules import normalize_language
from pool_core.db import Database
from pool_core.errors import InvalidInput, JobError
from pool_core.models import Asset
from pool_core.queue import JobContext, enqueue
from pool_core.services import subtitles
from pool_core.settings import Settings
from pool_core.storage.base import ObjectStorage
from pool_core.subtitles.convert import MAX_SUBTITLE_BYTES, SubtitleError
from transcode.tools import resolve_ffmpeg

logger = logging.getLogger("transcode.embedded_subtitles")

EMBEDDED_JOB = "extract_subtitles"
# Stream codecs ffmpeg decodes to text (and so can write as SubRip).
TEXT_CODECS = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text", "eia_608"})
EXTRACT_TIMEOUT = 600
UNDETERMINED = "und"


def queue_extraction(session: Session, asset: Asset) -> bool:
    """Queue the extraction when the probe found subtitle streams ffmpeg can read."""
    streams = (asset.technical or {}).get("subtitles") or []
    if not any(s.get("codec") in TEXT_CODECS for s in streams):
        return False
    enqueue(session, kind=EMBEDDED_JOB, payload={"asset_id": str(asset.id)}, org_id=asset.org_id)
    return True


def build_handlers(settings: Settings, db: Database, storage: ObjectStorage) -> dict[str, Any]:
    """`{"extract_subtitles": handler}`."""
    ffmpeg = resolve_ffmpeg(settings)

    def handle(ctx: JobContext) -> None:
        try:
            asset_id = uuid.UUID(str(ctx.payload["asset_id"]))
        except (KeyError, ValueError) as exc:
            raise JobError(f"{EMBEDDED_JOB} payload needs an asset_id: {ctx.payload!r}") from exc
        extract_embedded(db, storage, ffmpeg=ffmpeg, asset_id=asset_id)

    return {EMBEDDED_JOB: handle}


def extract_embedded(
    db: Database, storage: ObjectStorage, *, ffmpeg: str, asset_id: uuid.UUID
) -> list[str]:
    """Extract the master's text subtitle streams as tracks; return the languages stored."""
    with db.session() as session:
        asset = session.get(Asset, asset_id)
        if asset is None or asset.purged_at is not None:
            return []
        streams = [
            s
            for s in (asset.technical or {}).get("subtitles") or []
            if s.get("codec") in TEXT_CODECS
        ]
        taken = {
            t.language for t in subtitles.list_tracks(session, asset) if t.source != "embedded"
        }
        source = storage.presigned_get(asset.object_key, expires_in=EXTRACT_TIMEOUT + 300)
        stem = asset.filename.rsplit(".", 1)[0]
    stored: list[str] = []
    warnings: list[str] = []
    for stream in streams:
        language = bcp47(stream.get("language"))
        if language in taken:
            continue
        taken.add(language)
        label = f"embedded subtitle stream #{stream['index']} ({stream['codec']}, {language})"
        # CEA-608 is copied out as SCC and read like a delivered SCC file: ffmpeg's own 608
        # decoder shifts pop-on captions by frames and wraps them in styling markup.
        fmt = "scc" if stream["codec"] == "eia_608" else "srt"
        try:
            data = _extract(ffmpeg, source, int(stream["index"]), fmt)
        except JobError as exc:
            warnings.append(f"{label} could not be extracted: {exc}")
            continue
        with db.session() as session:
            asset = session.get(Asset, asset_id)
            if asset is None:
                return stored
            try:
                subtitles.store_track(
                    session,
                    storage,
                    asset=asset,
                    language=language,
                    filename=f"{stem}.{language}.{fmt}",
                    data=data,
                    fmt=fmt,
                    source="embedded",
                    uploaded_by=None,
                )
            except SubtitleError as exc:
                warnings.append(f"{label} could not be read: {'; '.join(exc.problems)}")
                continue
        stored.append(language)
    if warnings:
        with db.session() as session:
            asset = session.get(Asset, asset_id)
            if asset is not None:
                # A new list, so the JSON column is seen as changed.
                asset.ingest_warnings = [*(asset.ingest_warnings or []), *warnings]
    return stored


def bcp47(tag: object) -> str:
    """A stream's language (ISO 639-2 `kaz`, or a BCP 47 tag) as our canonical tag."""
    text = str(tag or "").strip()
    if not text or text.lower() == UNDETERMINED:
        return UNDETERMINED
    aliases: Mapping[str, str] = get_global("language_aliases")
    short = aliases.get(text.lower(), text)
    try:
        return normalize_language(short)
    except InvalidInput:
        return UNDETERMINED


def _extract(ffmpeg: str, source: str, index: int, fmt: str) -> bytes:
    # Text streams are decoded to SubRip; CEA-608 is copied as it is, into an SCC file.
    codec = "copy" if fmt == "scc" else "srt"
    command = [
        ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-i", source,
        "-map", f"0:{index}", "-c:s", codec, "-f", fmt, "pipe:1",
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, timeout=EXTRACT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise JobError(f"ffmpeg took longer than {EXTRACT_TIMEOUT} s") from exc
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise JobError(reason[-1] if reason else f"ffmpeg exited with {done.returncode}")
    if len(done.stdout) > MAX_SUBTITLE_BYTES:
        raise JobError(f"the stream is larger than {MAX_SUBTITLE_BYTES} bytes as text")
    return done.stdout

"""What happens when an upload completes: entry, asset, transcode job, sidecars (decision 4).

Masters (media files by extension) become assets with a `transcode` job; sidecars with the
master's base name (`.json`, `.xml`, `.csv`) are linked to it and an `ingest_sidecar` job is
queued for the catalog; a `.md5` sidecar is checked against the master. Everything else is a
plain file.
"""

from __future__ import annotations

MASTER_EXTENSIONS = frozenset(
    {
        # video
        "mxf", "mov", "mp4", "m4v", "mkv", "webm", "ts", "m2ts", "mts", "m2t", "mpg", "mpeg",
        "m2v", "vob", "avi", "dv", "wmv", "y4m",
        # audio
        "wav", "bwf", "aif", "aiff", "flac", "mp3", "m4a", "aac", "ac3", "eac3",
    }
)  # fmt: skip
METADATA_SIDECAR_EXTENSIONS = frozenset({"json", "xml", "csv"})
CHECKSUM_SIDECAR_EXTENSION = "md5"

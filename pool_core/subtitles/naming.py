"""Which uploaded file is a subtitle track of which master: `<master base>.<lang>.<ext>`.

`ep01.kk-Cyrl.srt` is the Kazakh (Cyrillic) track of `ep01.mxf` (or `ep01.mov`, …), and so
is `ep01.mxf.kk-Cyrl.srt`. The language part must be a BCP 47 tag (`kk`, `kk-Cyrl`, `pt-BR`);
it is stored in canonical case. A metadata sidecar (`ep01.xml`, `ep01.mxf.xml`) has no
language part, so `.xml` can be both without ambiguity.
"""

from __future__ import annotations

from dataclasses import dataclass

from pool_core.catalog.rules import normalize_language
from pool_core.errors import InvalidInput
from pool_core.names import MASTER_EXTENSIONS

# Extension → the format its bytes are read as (TTML and EBU-TT share one reader).
SUBTITLE_EXTENSIONS = {
    "srt": "srt",
    "vtt": "vtt",
    "webvtt": "vtt",
    "ttml": "ttml",
    "dfxp": "ttml",
    "xml": "ttml",
    "stl": "stl",
    "scc": "scc",
}
FORMATS = ("srt", "vtt", "ttml", "stl", "scc")


@dataclass(frozen=True)
class SubtitleName:
    """What a subtitle file's name says: whose track it is, in which language and format."""

    base: str
    language: str
    format: str

    def belongs_to(self, master_name: str) -> bool:
        """Whether this is a track of the master called `master_name`."""
        master_stem = master_name.rsplit(".", 1)[0] if "." in master_name.strip(".") else ""
        return self.base in (master_name, master_stem)


def parse_subtitle_name(name: str) -> SubtitleName | None:
    """`ep01.kk-Cyrl.srt` → (ep01, kk-Cyrl, srt); None for any other name."""
    parts = name.rsplit(".", 2)
    if len(parts) != 3 or not parts[0]:
        return None
    base, language, ext = parts
    fmt = SUBTITLE_EXTENSIONS.get(ext.lower())
    # `ep01.mxf.xml` is the master's metadata sidecar, though `mxf` looks like a language.
    if fmt is None or language.lower() in MASTER_EXTENSIONS:
        return None
    try:
        tag = normalize_language(language)
    except InvalidInput:
        return None
    return SubtitleName(base=base, language=tag, format=fmt)

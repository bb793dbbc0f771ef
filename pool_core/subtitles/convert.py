"""Reading a delivered subtitle file (SRT, WebVTT, TTML/EBU-TT, EBU STL, SCC) into cues and WebVTT.

The formats are read by `ttconv` (a maintained converter), never by a parser of our own:
- SRT, WebVTT and SCC are text. UTF-8 and UTF-16 are read as such; anything else goes through
  the same legacy code-page guess as CSV sidecars (`pool_core.sidecars.legacy`), and the guess
  is reported, because a wrong guess turns every letter of a Cyrillic file into nonsense.
- TTML/EBU-TT is XML, read without entity expansion (defusedxml); the XML declares its encoding.
- EBU STL is binary; its header names the code table of the text (00 Latin ISO 6937, 01
  Cyrillic ISO 8859-5, 02 Arabic, 03 Greek, 04 Hebrew), which ttconv decodes.

What the reader logs as wrong (an unknown code table, a damaged block) becomes a note, and
the notes become QC findings of the track. A file with no readable cue at all is refused with
`SubtitleError`, whose problems say why in plain words.

The cues are taken from the document model (each paragraph with its own begin and end), not
from the WebVTT: ttconv's WebVTT writer splits overlapping cues into non-overlapping ones,
which is right for a player but would hide the overlaps QC must report.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from xml.etree.ElementTree import ElementTree, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from ttconv import model
from ttconv.imsc import reader as ttml_reader
from ttconv.scc import reader as scc_reader
from ttconv.srt import reader as srt_reader
from ttconv.stl import reader as stl_reader
from ttconv.vtt import reader as vtt_reader
from ttconv.vtt import writer as vtt_writer

from pool_core.errors import InvalidInput
from pool_core.sidecars.decoding import SidecarError, decode_legacy_text

# A feature film's subtitles are some 100 KB; anything this large is not a subtitle file.
MAX_SUBTITLE_BYTES = 2 * 1024 * 1024
MAX_NOTES = 20
OPEN_CUE_SECONDS = 10
_TTP = "{http://www.w3.org/ns/ttml#parameter}"
# EBU STL's character code table (GSI bytes 12-13) → what its text is.
STL_CODE_TABLES = {
    b"00": "ISO 6937 (Latin)",
    b"01": "ISO 8859-5 (Latin/Cyrillic)",
    b"02": "ISO 8859-6 (Latin/Arabic)",
    b"03": "ISO 8859-7 (Latin/Greek)",
    b"04": "ISO 8859-8 (Latin/Hebrew)",
}


class SubtitleError(InvalidInput):
    """A subtitle file could not be read; `problems` lists each reason in plain words."""

    def __init__(self, filename: str, problems: list[str]) -> None:
        self.filename = filename
        self.problems = problems or ["unknown problem"]
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"subtitle file {filename} could not be read:\n{lines}")


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from `start` to `end` (seconds into the programme)."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Conversion:
    """A subtitle file as read: its cues, its WebVTT rendition and what was noticed."""

    format: str
    webvtt: str
    cues: list[Cue]
    # How the text was encoded ("UTF-8", "windows-1251", "ISO 8859-5 (Latin/Cyrillic)").
    encoding: str
    # Frames per second the file declares (EBU STL, TTML with ttp:frameRate), if any.
    frame_rate: float | None = None
    notes: list[str] = field(default_factory=list)


def sniff_format(data: bytes) -> str | None:
    """The format of a subtitle file by its first bytes (None when it is none we know)."""
    if len(data) >= 11 and data[3:6] == b"STL" and data[6:8].isdigit():
        return "stl"
    head = data[:512].lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n")
    text = head.replace(b"\x00", b"")
    if text.startswith(b"WEBVTT"):
        return "vtt"
    if text.startswith(b"Scenarist_SCC"):
        return "scc"
    if text.startswith(b"<") and b"<tt" in text + data[512:4096].replace(b"\x00", b""):
        return "ttml"
    if b"-->" in text:
        return "srt"
    return None


def convert(data: bytes, *, filename: str, fmt: str, country: str = "") -> Conversion:
    """Read a subtitle file of format `fmt`; raise `SubtitleError` if it has no readable cue."""
    if not data.strip(b"\x00 \t\r\n"):
        raise SubtitleError(filename, ["the file is empty"])
    if len(data) > MAX_SUBTITLE_BYTES:
        raise SubtitleError(
            filename,
            [f"the file is {len(data)} bytes; a subtitle file may be at most {MAX_SUBTITLE_BYTES}"],
        )
    with _reader_notes() as notes:
        try:
            doc, encoding, frame_rate, decode_notes = _read(
                data, filename=filename, fmt=fmt, country=country
            )
        except SubtitleError:
            raise
        except Exception as exc:  # ttconv raises many kinds; each means "this file is bad"
            problems = [f"it is not a readable {fmt.upper()} file: {_reason(exc)}", *notes]
            raise SubtitleError(filename, problems[:MAX_NOTES]) from exc
        cues = _cues(doc) if doc is not None else []
        if not cues:
            raise SubtitleError(
                filename,
                [f"no subtitle with text and timing was found in it as {fmt.upper()}", *notes][
                    :MAX_NOTES
                ],
            )
    # Outside the notes: the writer warns when it splits overlapping cues, which QC reports.
    webvtt = vtt_writer.from_model(_escaped(doc))
    return Conversion(
        format=fmt,
        webvtt=webvtt,
        cues=cues,
        encoding=encoding,
        frame_rate=frame_rate,
        notes=[*decode_notes, *notes][:MAX_NOTES],
    )


def _read(
    data: bytes, *, filename: str, fmt: str, country: str
) -> tuple[model.ContentDocument | None, str, float | None, list[str]]:
    if fmt == "stl":
        return _read_stl(data, filename)
    if fmt == "ttml":
        return _read_ttml(data, filename)
    try:
        decoded = decode_legacy_text(filename, data, country=country)
    except SidecarError as exc:
        raise SubtitleError(filename, exc.problems) from exc
    notes = []
    if decoded.legacy:
        notes.append(
            f"the text is not Unicode: it was read as {decoded.encoding} ({decoded.how}); "
            "the WebVTT rendition is UTF-8, check its letters, and deliver UTF-8 next time"
        )
    text = decoded.text
    if fmt == "scc":
        # ttconv reads any hex words as SCC; the header is what says the file is one.
        if not text.lstrip().startswith("Scenarist_SCC"):
            raise SubtitleError(
                filename, ["it is not an SCC file: the 'Scenarist_SCC V1.0' header is missing"]
            )
        return scc_reader.to_model(text), decoded.encoding, 30000 / 1001, notes
    reader = srt_reader if fmt == "srt" else vtt_reader
    return reader.to_model(io.StringIO(text)), decoded.encoding, None, notes


def _read_stl(
    data: bytes, filename: str
) -> tuple[model.ContentDocument | None, str, float | None, list[str]]:
    if len(data) < 1024 + 128 or data[3:6] != b"STL":
        raise SubtitleError(
            filename,
            ["it is not an EBU STL file: the 1,024-byte header (GSI) with 'STL' in it is missing"],
        )
    notes = []
    if (len(data) - 1024) % 128:
        notes.append(
            f"the file ends with {(len(data) - 1024) % 128} bytes that are not a whole text block; "
            "it may have been cut short"
        )
        data = data[: len(data) - (len(data) - 1024) % 128]
    table = data[12:14]
    encoding = STL_CODE_TABLES.get(table)
    if encoding is None:
        notes.append(f"unknown character code table {table!r}; the text was read as ISO 6937")
        encoding = STL_CODE_TABLES[b"00"]
    rate = {b"STL25.01": 25.0, b"STL30.01": 30000 / 1001}.get(data[3:11])
    return stl_reader.to_model(io.BytesIO(data)), encoding, rate, notes


def _read_ttml(
    data: bytes, filename: str
) -> tuple[model.ContentDocument | None, str, float | None, list[str]]:
    try:
        root = SafeET.fromstring(data)
    except ParseError as exc:
        raise SubtitleError(filename, [f"it is not well-formed XML: {exc}"]) from exc
    except DefusedXmlException as exc:
        raise SubtitleError(
            filename, ["it declares entities or a DTD, which are not accepted"]
        ) from exc
    if not root.tag.endswith("}tt") and root.tag != "tt":
        raise SubtitleError(filename, [f"its root element is <{root.tag}>, not TTML's <tt>"])
    rate = None
    if root.get(f"{_TTP}frameRate"):
        try:
            rate = float(int(root.get(f"{_TTP}frameRate", "0")))
            multiplier = root.get(f"{_TTP}frameRateMultiplier")
            if multiplier:
                num, den = (int(x) for x in multiplier.split())
                rate = rate * num / den
        except ValueError:
            rate = None
    return ttml_reader.to_model(ElementTree(root)), _xml_encoding(data), rate, []


def _xml_encoding(data: bytes) -> str:
    head = data[:100].decode("ascii", "replace")
    start = head.find("encoding=")
    if start < 0:
        return "UTF-8"
    value = head[start + 9 :].lstrip("\"' ")
    return value.split('"')[0].split("'")[0] or "UTF-8"


def _cues(doc: model.ContentDocument) -> list[Cue]:
    body = doc.get_body()
    if body is None:
        return []
    cues = [
        Cue(start=float(start), end=float(end), text=text)
        for start, end, text in _paragraphs(body, Fraction(0), None)
        if text.strip()
    ]
    return sorted(cues, key=lambda c: (c.start, c.end))


def _paragraphs(
    element: model.ContentElement, parent_begin: Fraction, parent_end: Fraction | None
) -> Iterator[tuple[Fraction, Fraction, str]]:
    # TTML times are relative to the parent's begin (a `par` container), as ttconv keeps them.
    begin = parent_begin + (element.get_begin() or 0)
    own_end = element.get_end()
    end = parent_begin + own_end if own_end is not None else parent_end
    if isinstance(element, model.P):
        spans = list(_timed_text(element, begin, end))
        starts = [s for s, _, _ in spans if s is not None]
        ends = [e for _, e, _ in spans if e is not None]
        text = "".join(t for _, _, t in spans).strip("\n")
        start = min(starts, default=begin)
        # A cue nothing ends (SCC's last caption without its erase code) shows for 10 s, as
        # ttconv's own writer has it.
        stop = max(ends, default=end if end is not None else start + OPEN_CUE_SECONDS)
        yield start, stop, text
        return
    for child in element:
        yield from _paragraphs(child, begin, end)


def _timed_text(
    element: model.ContentElement, parent_begin: Fraction, parent_end: Fraction | None
) -> Iterator[tuple[Fraction | None, Fraction | None, str]]:
    for child in element:
        begin = parent_begin + (child.get_begin() or 0)
        own_end = child.get_end()
        end = parent_begin + own_end if own_end is not None else parent_end
        if isinstance(child, model.Text):
            yield begin, end, child.get_text()
        elif isinstance(child, model.Br):
            yield None, None, "\n"
        else:
            yield from _timed_text(child, begin, end)


def _escaped(doc: model.ContentDocument) -> model.ContentDocument:
    """The document with `& < >` in its text escaped, as WebVTT needs and ttconv's writer
    does not do (a literal `<3` would start a tag and hide the rest of the cue)."""
    body = doc.get_body()
    if body is not None:
        for element in body.dfs_iterator():
            if isinstance(element, model.Text):
                raw = element.get_text()
                element.set_text(
                    raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                )
    return doc


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "…"


class _ThreadNotes(logging.Handler):
    """Collects what ttconv logs as a warning or worse while this thread reads a file."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.thread = threading.get_ident()
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread and len(self.notes) < MAX_NOTES:
            message = record.getMessage().strip()
            if message and message not in self.notes:
                self.notes.append(message)


@contextmanager
def _reader_notes() -> Iterator[list[str]]:
    handler = _ThreadNotes()
    ttconv_log = logging.getLogger("ttconv")
    ttconv_log.addHandler(handler)
    try:
        yield handler.notes
    finally:
        ttconv_log.removeHandler(handler)

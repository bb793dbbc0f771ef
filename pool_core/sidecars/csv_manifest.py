"""CSV manifests for batch deliveries: one row per master file.

Columns (header names, any order, `,` `;` or tab separated): `filename`, `kind`,
`original_title`, and optionally `external_id`, `status`, `original_language`,
`title:<tag>` and `synopsis:<tag>` per language (e.g. `title:kk-Cyrl`), `genres`,
`keywords`, `countries` (lists separated by `|` or `;`), `production_year`,
`duration_seconds` or `duration` (`HH:MM:SS`), `age_rating`, `eidr`, `isan`,
`season`, `episode`, `episode_name`, `contributors` (`Name (role) | Name (role)`),
`rights_notes`, and the master's declared `size` (bytes), `sha256` and `md5` (hex), which a
master that differs fails.

The file may be UTF-8, UTF-16 or the legacy code page Excel used (see `legacy`); how it was
read (encoding, delimiter) is kept for the ingest report. A `?` where a letter was (see
`lost_letters`) is what a letter becomes when Excel saves it in a code page that lacks it
(Azerbaijani ə in Windows-1254), so each such cell gets a warning.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from pool_core.sidecars.decoding import DecodedText, SidecarError, decode_legacy_text
from pool_core.sidecars.errors_format import validate
from pool_core.sidecars.lost_letters import how_lost, lost_letter_warning, where_lost
from pool_core.sidecars.schema import CatalogSidecar

MAX_ROWS = 10_000
LIST_SPLIT = re.compile(r"\s*[|;]\s*")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
PERSON = re.compile(r"^(?P<name>[^()]+?)\s*(?:\((?P<role>[^()]*)\))?$")
SIMPLE = (
    "external_id",
    "kind",
    "status",
    "original_title",
    "original_language",
    "production_year",
    "duration_seconds",
    "age_rating",
    "eidr",
    "isan",
    "rights_notes",
    "size",
    "sha256",
    "md5",
)
KNOWN = {
    *SIMPLE,
    "filename",
    "genres",
    "keywords",
    "countries",
    "duration",
    "season",
    "episode",
    "episode_name",
    "contributors",
}


@dataclass
class ManifestRow:
    """One row: the master it describes, and its metadata or what is wrong with it."""

    line: int
    filename: str
    sidecar: CatalogSidecar | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    """A manifest's rows and how its bytes were read."""

    rows: list[ManifestRow]
    decoded: DecodedText
    delimiter: str

    def report(self) -> dict[str, str]:
        """How the file was read, for the ingest report."""
        return {
            "format": "csv",
            "encoding": self.decoded.encoding,
            "encoding_how": self.decoded.how,
            "delimiter": DELIMITER_NAMES[self.delimiter],
        }


def parse_csv_manifest(filename: str, data: bytes, *, country: str = "") -> list[ManifestRow]:
    """Parse every row of a manifest; rows are validated one by one."""
    return read_csv_manifest(filename, data, country=country).rows


def read_csv_manifest(filename: str, data: bytes, *, country: str = "") -> Manifest:
    """Read a manifest saved by the uploader's tools; `country` ranks legacy code pages."""
    decoded = decode_legacy_text(filename, data, country=country)
    text = decoded.text
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise SidecarError(filename, ["the manifest has no header row"])
    reader.fieldnames = header
    unknown = [
        h for h in header if h and h not in KNOWN and not h.startswith(("title:", "synopsis:"))
    ]
    missing = [h for h in ("kind", "original_title") if h not in header]
    problems = [f"column {h!r} is required but missing" for h in missing]
    problems += [f"column {h!r} is not a known column" for h in unknown]
    if problems:
        raise SidecarError(filename, problems)
    rows: list[ManifestRow] = []
    try:
        for number, raw in enumerate(reader, start=2):
            if number - 1 > MAX_ROWS:
                raise SidecarError(filename, [f"more than {MAX_ROWS} rows"])
            if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
                continue
            if None in raw:
                rows.append(
                    ManifestRow(number, "", None, [f"row {number}: more cells than columns"])
                )
                continue
            values = {k: (v or "").strip() for k, v in raw.items() if k}
            document = _document(values)
            sidecar, row_problems = validate(document, prefix=f"row {number}: ")
            row = ManifestRow(number, values.get("filename", ""), sidecar, row_problems)
            row.warnings = _lost_letters(filename, number, values, decoded)
            rows.append(row)
    except csv.Error as exc:
        raise SidecarError(filename, [f"the CSV cannot be read: {exc}"]) from exc
    if not rows:
        raise SidecarError(filename, ["the manifest has a header but no rows"])
    return Manifest(rows, decoded, delimiter)


def _lost_letters(
    filename: str, number: int, values: dict[str, str], decoded: DecodedText
) -> list[str]:
    how = how_lost(decoded.encoding if decoded.legacy else None)
    found = {c: where_lost(v) for c, v in values.items() if c != "filename"}
    return [
        f"{filename} row {number}, {column}: " + lost_letter_warning(where, values[column], how)
        for column, where in found.items()
        if where
    ]


def _document(values: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {k: values[k] for k in SIMPLE if values.get(k)}
    for key in ("genres", "keywords", "countries"):
        if values.get(key):
            doc[key] = [x for x in LIST_SPLIT.split(values[key]) if x]
    if values.get("duration") and "duration_seconds" not in doc:
        doc["duration_seconds"] = _seconds(values["duration"])
    localizations: dict[str, dict[str, str]] = {}
    for key, value in values.items():
        if key.startswith("title:") and value:
            localizations.setdefault(key[6:], {})["title"] = value
    for key, value in values.items():
        if key.startswith("synopsis:") and value:
            localizations.setdefault(key[9:], {"title": values.get("original_title", "")})[
                "synopsis"
            ] = value
    if localizations:
        doc["localizations"] = localizations
    if values.get("episode"):
        doc["episode"] = {
            "number": values["episode"],
            "season": values.get("season") or 0,
            "name": values.get("episode_name", ""),
        }
    if values.get("contributors"):
        people = []
        for item in LIST_SPLIT.split(values["contributors"]):
            match = PERSON.match(item)
            if match:
                people.append({"name": match["name"], "role": match["role"] or ""})
        doc["contributors"] = people
    return doc


def _seconds(value: str) -> int | str:
    match = re.fullmatch(r"(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,]\d+)?", value)
    if not match:
        return value  # left for the schema to refuse with its own message
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)

"""Sidecar files delivered next to masters: JSON, EBUCore XML, CSV manifests.

    parse_sidecar(filename, data, master_filename=...) -> CatalogSidecar   (or SidecarError)
    read_sidecar(filename, data, master_filename=..., country=...) -> SidecarReading
        the same, plus how the file was read and warnings for the ingest report

Every format is mapped onto one documented schema (`CatalogSidecar`); every refusal is a
`SidecarError` (an `InvalidInput`) whose message lists each problem in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from pool_core.sidecars.csv_manifest import (
    Manifest,
    ManifestRow,
    parse_csv_manifest,
    read_csv_manifest,
)
from pool_core.sidecars.decoding import MAX_SIDECAR_BYTES, SidecarError
from pool_core.sidecars.ebucore import parse_ebucore_sidecar
from pool_core.sidecars.json_sidecar import parse_json_sidecar
from pool_core.sidecars.lost_letters import (
    how_lost,
    lost_letter_warning,
    text_fields,
    where_lost,
    xml_legacy_encoding,
)
from pool_core.sidecars.schema import SCHEMA_ID, CatalogSidecar

SIDECAR_SUFFIXES = (".json", ".xml", ".csv")

__all__ = [
    "MAX_SIDECAR_BYTES",
    "SCHEMA_ID",
    "SIDECAR_SUFFIXES",
    "CatalogSidecar",
    "Manifest",
    "ManifestRow",
    "SidecarError",
    "parse_csv_manifest",
    "parse_ebucore_sidecar",
    "parse_json_sidecar",
    "parse_sidecar",
    "read_csv_manifest",
    "read_sidecar",
]


@dataclass
class SidecarReading:
    """A parsed sidecar, how its bytes were read, and what deserves a warning."""

    sidecar: CatalogSidecar
    report: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def parse_sidecar(filename: str, data: bytes, *, master_filename: str) -> CatalogSidecar:
    """Parse the sidecar of one master, whatever its format."""
    return read_sidecar(filename, data, master_filename=master_filename).sidecar


def read_sidecar(
    filename: str, data: bytes, *, master_filename: str, country: str = ""
) -> SidecarReading:
    """Parse the sidecar of one master; `country` (the uploader's) ranks legacy code pages."""
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix == ".json":
        return SidecarReading(parse_json_sidecar(filename, data), {"format": "json"})
    if suffix == ".xml":
        return _read_ebucore(filename, data)
    if suffix == ".csv":
        manifest = read_csv_manifest(filename, data, country=country)
        row = manifest_row_for(filename, manifest.rows, master_filename)
        if row.sidecar is None:
            raise SidecarError(filename, row.problems)
        warnings = list(row.warnings)
        if manifest.decoded.legacy:
            warnings.insert(
                0,
                f"{filename} is not Unicode: it was read as {manifest.decoded.encoding} "
                f"({manifest.decoded.how}); check the titles, or save it as UTF-8",
            )
        return SidecarReading(row.sidecar, manifest.report(), warnings)
    raise SidecarError(filename, [f"{suffix or 'no extension'}: sidecars are .json, .xml or .csv"])


def _read_ebucore(filename: str, data: bytes) -> SidecarReading:
    """Parse EBUCore XML; a legacy encoding is reported and its lost letters warned about."""
    sidecar = parse_ebucore_sidecar(filename, data)
    declared = xml_legacy_encoding(data)
    report = {"format": "ebucore"}
    warnings: list[str] = []
    if declared:
        # Declared, not guessed (unlike a CSV's code page): worth a note, not a warning.
        report["encoding"] = declared
    how = how_lost(declared)
    warned: set[str] = set()
    for field_name, value in text_fields(sidecar.model_dump(mode="json", exclude={"sha256"})):
        # The original title is often repeated as a localized one: one warning per value.
        if value not in warned and (where := where_lost(value)):
            warned.add(value)
            warnings.append(f"{filename}, {field_name}: " + lost_letter_warning(where, value, how))
    return SidecarReading(sidecar, report, warnings)


def manifest_row_for(filename: str, rows: list[ManifestRow], master_filename: str) -> ManifestRow:
    """The row of one master from a manifest's rows."""
    if len(rows) == 1 and not rows[0].filename:
        row = rows[0]
    else:
        matches = [r for r in rows if r.filename == master_filename]
        if not matches:
            raise SidecarError(filename, [f"no row has filename {master_filename!r}"])
        if len(matches) > 1:
            lines = ", ".join(str(r.line) for r in matches)
            raise SidecarError(filename, [f"rows {lines} all describe {master_filename!r}"])
        row = matches[0]
    return row

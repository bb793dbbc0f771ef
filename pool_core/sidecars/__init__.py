"""Sidecar files delivered next to masters: JSON, EBUCore XML, CSV manifests.

    parse_sidecar(filename, data, master_filename=...) -> CatalogSidecar   (or SidecarError)

Every format is mapped onto one documented schema (`CatalogSidecar`); every refusal is a
`SidecarError` (an `InvalidInput`) whose message lists each problem in plain words.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pool_core.sidecars.csv_manifest import ManifestRow, parse_csv_manifest
from pool_core.sidecars.decoding import MAX_SIDECAR_BYTES, SidecarError
from pool_core.sidecars.ebucore import parse_ebucore_sidecar
from pool_core.sidecars.json_sidecar import parse_json_sidecar
from pool_core.sidecars.schema import SCHEMA_ID, CatalogSidecar

SIDECAR_SUFFIXES = (".json", ".xml", ".csv")

__all__ = [
    "MAX_SIDECAR_BYTES",
    "SCHEMA_ID",
    "SIDECAR_SUFFIXES",
    "CatalogSidecar",
    "ManifestRow",
    "SidecarError",
    "parse_csv_manifest",
    "parse_ebucore_sidecar",
    "parse_json_sidecar",
    "parse_sidecar",
]


def parse_sidecar(filename: str, data: bytes, *, master_filename: str) -> CatalogSidecar:
    """Parse the sidecar of one master, whatever its format."""
    suffix = PurePosixPath(filename).suffix.lower()
    if suffix == ".json":
        return parse_json_sidecar(filename, data)
    if suffix == ".xml":
        return parse_ebucore_sidecar(filename, data)
    if suffix == ".csv":
        return manifest_row_for(filename, parse_csv_manifest(filename, data), master_filename)
    raise SidecarError(filename, [f"{suffix or 'no extension'}: sidecars are .json, .xml or .csv"])


def manifest_row_for(
    filename: str, rows: list[ManifestRow], master_filename: str
) -> CatalogSidecar:
    """The metadata of one master from a manifest's rows."""
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
    if row.sidecar is None:
        raise SidecarError(filename, row.problems)
    return row.sidecar

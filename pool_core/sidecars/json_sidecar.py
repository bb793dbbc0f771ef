"""JSON sidecars: the documented schema, verbatim."""

from __future__ import annotations

import json

from pool_core.sidecars.decoding import SidecarError, decode_text
from pool_core.sidecars.errors_format import validate
from pool_core.sidecars.schema import CatalogSidecar


def parse_json_sidecar(filename: str, data: bytes) -> CatalogSidecar:
    """Parse and validate a JSON sidecar."""
    text = decode_text(filename, data)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SidecarError(
            filename, [f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
        ) from exc
    except (ValueError, RecursionError) as exc:
        # Absurd numbers (more than 4300 digits) or nesting deeper than the parser allows.
        raise SidecarError(filename, [f"the JSON cannot be read safely: {exc}"]) from exc
    if not isinstance(document, dict):
        raise SidecarError(
            filename, [f"the top level must be a JSON object, not {type(document).__name__}"]
        )
    sidecar, problems = validate(document)
    if sidecar is None:
        raise SidecarError(filename, problems)
    return sidecar

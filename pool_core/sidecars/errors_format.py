"""Pydantic validation errors rewritten for the people who prepare sidecars."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from pool_core.sidecars.schema import CatalogSidecar


def describe(
    exc: ValidationError, *, prefix: str = "", names: dict[str, str] | None = None
) -> list[str]:
    """One readable line per problem; `names` maps schema fields to the format's own names."""
    names = names or {}
    lines = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        field = names.get(loc[0], loc[0]) if loc else ""
        where = ".".join([field, *loc[1:]]) if loc else "(document)"
        kind = error.get("type", "")
        if kind == "missing":
            message = "is required but missing"
        elif kind == "extra_forbidden":
            message = "is not a known field (see the sidecar schema, GET /v1/sidecar-schema)"
        else:
            message = str(error.get("msg", "is invalid"))
            value = error.get("input")
            if isinstance(value, str | int | float) and len(str(value)) <= 60:
                message += f" (got {value!r})"
        lines.append(f"{prefix}{where}: {message}")
    return lines


def validate(
    data: Any, *, prefix: str = "", names: dict[str, str] | None = None
) -> tuple[CatalogSidecar | None, list[str]]:
    """Validate a mapping against the sidecar schema, returning it or the problems."""
    try:
        return CatalogSidecar.model_validate(data), []
    except ValidationError as exc:
        return None, describe(exc, prefix=prefix, names=names)

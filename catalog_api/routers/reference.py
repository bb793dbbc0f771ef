"""Reference data: the controlled genre list and the sidecar schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pool_core.catalog.rules import GENRES
from pool_core.sidecars import CatalogSidecar

router = APIRouter(prefix="/v1", tags=["reference"])


@router.get("/genres", response_model=list[str])
def genres() -> list[str]:
    """The controlled list of genres titles may carry."""
    return list(GENRES)


@router.get(
    "/sidecar-schema",
    response_model=dict[str, Any],
    responses={200: {"description": "JSON Schema of `<master base name>.json` sidecars."}},
)
def sidecar_schema() -> dict[str, Any]:
    """The JSON Schema of catalog sidecars (`jointpool.sidecar/1`); XML and CSV map onto it."""
    return CatalogSidecar.model_json_schema(by_alias=True)

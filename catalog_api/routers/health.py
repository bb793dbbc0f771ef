"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from catalog_api.deps import SessionDep

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    """The service and its database answer."""

    status: str
    database: str


@router.get("/healthz", response_model=HealthOut)
def healthz(session: SessionDep) -> HealthOut:
    """Answer when the API and its database are up."""
    session.execute(text("SELECT 1"))
    return HealthOut(status="ok", database="ok")

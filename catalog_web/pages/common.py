"""What page modules share: a router factory and the form-post guard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from catalog_web.state import unit_of_work

WEB_TAG = "web"

SessionDep = Annotated[Session, Depends(unit_of_work, scope="function")]


def web_router() -> APIRouter:
    """A router for web pages: tagged `web`, left out of the API's OpenAPI document."""
    return APIRouter(tags=[WEB_TAG], include_in_schema=False)

"""The home page: search."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from catalog_web.auth import CurrentWebUser
from catalog_web.pages.common import web_router
from catalog_web.render import render

router = web_router()


@router.get("/")
def home(request: Request, user: CurrentWebUser) -> Response:
    """Search the catalog."""
    return render(request, "search.html", {"nav": "search"}, user=user)

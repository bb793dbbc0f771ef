"""The web UI's pages, one module per feature; each exposes `router`."""

from __future__ import annotations

from fastapi import APIRouter

from catalog_web.pages import (
    inbox,
    licensing,
    screening,
    search,
    signin,
    titles,
    uploads,
)

ROUTERS: tuple[APIRouter, ...] = (
    signin.router,
    search.router,
    titles.router,
    screening.router,
    licensing.router,
    inbox.router,
    uploads.router,
)

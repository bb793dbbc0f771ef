"""The screening pages (to be built)."""

from __future__ import annotations

from catalog_web.pages.common import web_router

router = web_router()

"""Rendering a page: the Jinja2 environment and what every template may use."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from catalog_web import i18n
from catalog_web.auth import CSRF_FIELD, WebUser, optional_user
from catalog_web.state import web_state
from pool_core import roles
from pool_core.roles import Action

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@functools.cache
def static_url(name: str) -> str:
    """The address of a static file, versioned by its content (cached for a year)."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def language_of(request: Request) -> str:
    """The request's UI language (switcher cookie, Accept-Language, the configured default)."""
    cached: str | None = getattr(request.state, "language", None)
    if cached:
        return cached
    language = i18n.negotiate(
        request.cookies.get(i18n.LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
        web_state(request).settings.web_default_language,
    )
    request.state.language = language
    return language


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (answer with the fragment, not the whole page)."""
    return request.headers.get("hx-request") == "true"


def template_context(request: Request, user: WebUser | None) -> dict[str, Any]:
    """What every template gets: the user, the language and its formatters, CSRF."""
    language = language_of(request)
    gettext, ngettext = i18n.gettext_for(language)
    return {
        "request": request,
        "user": user,
        "csrf_field": CSRF_FIELD,
        "csrf_token": user.csrf_token if user else "",
        "lang": language,
        "languages": i18n.LANGUAGES,
        "_": gettext,
        "ngettext": ngettext,
        "fmt": i18n.Formatter(language),
        "duration": i18n.duration,
        "upper": lambda text: i18n.upper(text, language),
        "static": static_url,
        # Which pages the user's role may use (the one roles table, as the API's routes).
        "may": (lambda action: user is not None and roles.may(user.user.role, Action(action))),
    }


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    user: WebUser | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a template to an HTML response in the request's language."""
    values = template_context(request, user or optional_user(request))
    values.update(context or {})
    html = environment.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["Content-Language"] = values["lang"]
    response.headers["Vary"] = "Accept-Language, Cookie"
    response.headers.update(security_headers(request))
    return response


def security_headers(request: Request) -> dict[str, str]:
    """What every page sends: a strict CSP (scripts only from /static), no framing.

    Proxies, posters and storyboards are presigned URLs of the S3 endpoint, so media and
    images may come from there too.
    """
    s3 = _origin(web_state(request).settings.effective_s3_endpoint)
    policy = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: {s3}",
            f"media-src 'self' blob: {s3}",
            f"connect-src 'self' {s3}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


@functools.cache
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""

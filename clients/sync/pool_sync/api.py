"""The catalog API as the sync sees it: three calls, errors mapped to `pool_sync.errors`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from pool_sync.errors import ApiError, ItemError, NotFoundError, TokenError

# Quick retries of one download grant before the file's own (slower) retry loop.
GRANT_ATTEMPTS = 4


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)[:200]


class PoolApi:
    """A small client of `/v1` with the bearer token; safe to share between threads."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url
        self._grant_lock = threading.Lock()
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "jointpool-sync/1"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the API at {self.base_url}: {exc}") from exc
        if response.status_code == 401:
            raise TokenError(
                f"the API refused the token ({_detail(response)}); it may have expired or been "
                "revoked: issue a new one and update the config"
            )
        if response.status_code == 403:
            raise ItemError(f"not allowed: {_detail(response)}")
        if response.status_code == 404:
            raise NotFoundError(f"not found: {_detail(response)}")
        if response.status_code >= 400:
            raise ApiError(f"GET {path} failed with {response.status_code}: {_detail(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(f"GET {path} did not return JSON") from exc

    def changes(self, cursor: str) -> Iterator[dict[str, Any]]:
        """Yield feed pages from `cursor` until the feed has nothing more right now."""
        while True:
            page = self._get("/v1/changes", {"cursor": cursor, "limit": 1000})
            yield page
            cursor = page["next_cursor"]
            if not page.get("has_more"):
                return

    def licensed_assets(self) -> list[dict[str, Any]]:
        """Return every master the organization may download now."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = self._get("/v1/licensed-assets", params)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def download_grant(
        self, asset_id: str, *, offset: int = 0, rendition: str | None = None
    ) -> dict[str, Any]:
        """Ask for a fresh presigned URL of a master or its rendition (logged as a delivery)."""
        params: dict[str, Any] = {"offset": offset}
        if rendition is not None:
            params["rendition"] = rendition
        # One grant at a time: they are quick, and a burst of parallel writes (each grant is
        # logged as a delivery) is what an embedded SQLite pool copes with worst.
        with self._grant_lock:
            for attempt in range(GRANT_ATTEMPTS):
                try:
                    grant: dict[str, Any] = self._get(f"/v1/assets/{asset_id}/download", params)
                except ApiError as exc:
                    # A 5xx or a dropped connection: a few quick retries, then the file's
                    # own retry loop takes over (one file's trouble is never fatal).
                    if attempt + 1 == GRANT_ATTEMPTS:
                        raise ItemError(str(exc)) from exc
                    time.sleep(0.1 * 2**attempt)
                else:
                    return grant
        raise AssertionError("unreachable")

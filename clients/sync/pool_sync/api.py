"""The catalog API as the sync sees it: three calls, errors mapped to `pool_sync.errors`.

Every call is retried with exponential backoff (0.5 s, 1 s, 2 s ... at most 30 s, with jitter,
or the server's `Retry-After`) when the network fails or the API answers 5xx or 429; 401,
403 and 404 are answers, not failures, and are never retried.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from pool_sync.errors import ApiError, ItemError, NotFoundError, TokenError

MAX_BACKOFF = 30.0
RETRYABLE = frozenset({429, 500, 502, 503, 504})


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

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 60.0,
        attempts: int = 4,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._grant_lock = threading.Lock()
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "jointpool-sync/1"},
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), MAX_BACKOFF)
        # Jitter spreads the retries of many broadcasters' nightly runs after an outage.
        base: float = min(self.backoff * 2.0 ** (attempt - 1), MAX_BACKOFF)
        return base * random.uniform(0.5, 1.0)

    def _send(self, path: str, params: dict[str, Any] | None) -> httpx.Response:
        """GET with retries on network errors, 5xx and 429; the last failure is an ApiError."""
        for attempt in range(1, self.attempts + 1):
            response: httpx.Response | None = None
            try:
                response = self._client.get(path, params=params)
            except httpx.TransportError as exc:
                failure = f"cannot reach the API at {self.base_url}: {exc}"
                cause: Exception | None = exc
            except httpx.HTTPError as exc:
                raise ApiError(f"GET {path} failed: {exc}") from exc
            else:
                if response.status_code not in RETRYABLE:
                    return response
                failure = f"GET {path} failed with {response.status_code}: {_detail(response)}"
                cause = None
            if attempt == self.attempts:
                raise ApiError(f"{failure} (after {attempt} attempts)") from cause
            time.sleep(self._delay(attempt, response))
        raise AssertionError("unreachable")

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._send(path, params)
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
            try:
                grant: dict[str, Any] = self._get(f"/v1/assets/{asset_id}/download", params)
            except ApiError as exc:
                # Retried already; now one file's trouble: its own retry loop takes over.
                raise ItemError(str(exc)) from exc
        return grant

"""The app over real HTTP: uvicorn in a thread on a free loopback port, httpx as the client."""

# Multilingual titles are the test data.

from __future__ import annotations

import httpx

from tests.fixtures.api import LiveServer, Members


def test_search_and_screen_over_http(live_api: LiveServer, members: Members) -> None:
    with httpx.Client(base_url=live_api.base_url, timeout=10) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        docs = client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        spec = client.get("/openapi.json").json()
        assert "/v1/search" in spec["paths"]
        created = client.post(
            "/v1/titles",
            json={"kind": "documentary", "original_title": "Қазақстан", "genres": ["nature"]},
            headers=members.headers("kztv"),
        )
        assert created.status_code == 201
        found = client.get(
            "/v1/search", params={"q": "Qazaqstan"}, headers=members.headers("uztv")
        ).json()
        assert [h["title"]["original_title"] for h in found["items"]] == ["Қазақстан"]
        title = client.get(f"/v1/titles/{created.json()['id']}", headers=members.headers("uztv"))
        assert title.status_code == 200
        missing = client.get("/v1/nothing-here")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

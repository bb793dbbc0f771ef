"""The web search page against the API search it is built on, and the first page's weight.

    .venv/bin/python -m bench.web_search [--titles 100000] [--requests 200] [--pg URL]

For each database: load `--titles` titles exactly as `bench.search` does, serve the pool the
way `jointpool api` does (API under /v1, web UI under /), sign in to the web UI as an editor,
then send the same queries, one request at a time over one keep-alive connection (the server
time, without queueing), to

* `GET /v1/search?q=...&limit=24` (the API, facets on, as many hits as a page of cards),
* `GET /?q=...` (the whole search page) and the same with `HX-Request: true` (the fragment
  htmx swaps in while the user types),

and print each p50/p95 and the ratio page p95 / API p95 (target <= 1.5). Finally it weighs the
first search page (`/`, no query) as a browser loads it without posters: the HTML plus every
stylesheet and script it links, in bytes as served (and, for reference, gzip-compressed).

The PostgreSQL URL defaults to JOINTPOOL_TEST_DATABASE_URL; without one, SQLite only.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import sys
import tempfile
import time

import httpx
from sqlalchemy import select

from bench.search import (
    api_command,
    drive,
    load_catalog,
    make_queries,
    percentile,
    server,
)
from pool_core.db import Database, normalize_url
from pool_core.models import Base, Organization
from pool_core.services.accounts import create_user
from tests.fixtures.database import create_scratch_pg_database, drop_scratch_pg_database

PAGE_SIZE = 24  # cards on a page of the web UI (catalog_web.pages.search.PAGE_SIZE)
RATIO_TARGET = 1.5
WEIGHT_TARGET = 150 * 1024
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ASSETS = re.compile(r'<(?:link rel="stylesheet" href|script src)="([^"]+)"')


def web_session(base: str, username: str, password: str) -> str:
    """Sign in through the form as a browser does; the session cookie's value."""
    with httpx.Client(base_url=base, timeout=30) as client:
        form = client.get("/signin")
        token = _CSRF.search(form.text)
        assert token, "the sign-in page has no CSRF token"
        done = client.post(
            "/signin",
            data={
                "username": username,
                "password": password,
                "csrf_token": token.group(1),
                "next": "/",
            },
        )
        assert done.status_code == 303, f"sign-in failed: {done.status_code} {done.text[:200]}"
        cookie = client.cookies.get("jp_session")
        assert cookie, "no session cookie after signing in"
        return cookie


def page_weight(base: str, cookie: str) -> tuple[int, int, list[tuple[str, int, int]]]:
    """Bytes of the first search page and what it links: (as served, gzipped, per part)."""
    parts: list[tuple[str, int, int]] = []
    with httpx.Client(
        base_url=base,
        cookies={"jp_session": cookie},
        headers={"Accept-Encoding": "gzip"},
        timeout=60,
    ) as client:
        home = client.get("/")
        assert home.status_code == 200, home.status_code
        urls = ["/", *dict.fromkeys(_ASSETS.findall(home.text))]
        for url in urls:
            response = home if url == "/" else client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            parts.append((url, response.num_bytes_downloaded, len(gzip.compress(response.content))))
    return sum(p[1] for p in parts), sum(p[2] for p in parts), parts


def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    """Load, serve and measure one database; print and return the numbers."""
    rng = random.Random(20261202)
    db = Database(url)
    Base.metadata.create_all(db.engine)
    started = time.perf_counter()
    _, corpus = load_catalog(db, args.titles, rng)
    with db.session() as session:
        viewer = session.scalar(select(Organization).where(Organization.code == "uztv"))
        assert viewer is not None
        created = create_user(session, org=viewer, username="bench-web-editor", role="editor")
        token, password = created.api_token, created.ftp_password
    db.dispose()
    print(f"  {name}: {args.titles} titles loaded in {time.perf_counter() - started:.0f} s")
    assert token and password
    queries = make_queries(corpus, rng, count=args.requests)
    api_paths = [f"/v1/search?{httpx.QueryParams({'q': q, 'limit': PAGE_SIZE})}" for q in queries]
    web_paths = [f"/?{httpx.QueryParams({'q': q})}" for q in queries]
    with tempfile.TemporaryDirectory() as data_dir, server(api_command, url, data_dir, 1) as base:
        cookie = web_session(base, "bench-web-editor", password)
        api_headers = {"Authorization": f"Bearer {token}"}
        web_headers = {"Cookie": f"jp_session={cookie}"}
        fragment_headers = {**web_headers, "HX-Request": "true"}
        # Warm both paths (connections, caches, the planner) before measuring.
        drive(base, api_paths[:20], clients=1, per_client=20, headers=api_headers)
        drive(base, web_paths[:20], clients=1, per_client=20, headers=web_headers)
        results: dict[str, list[float]] = {}
        for label, paths, headers in (
            ("API /v1/search", api_paths, api_headers),
            ("web page /", web_paths, web_headers),
            ("web fragment (htmx)", web_paths, fragment_headers),
        ):
            latencies, _, errors = drive(
                base, paths, clients=1, per_client=len(paths), headers=headers
            )
            assert not errors, f"{label}: {errors} failed requests"
            results[label] = latencies
            print(
                f"  {name}: {label} x{len(latencies)} from 1 client: "
                f"p50 {percentile(latencies, 50):.1f} ms, p95 {percentile(latencies, 95):.1f} ms"
            )
        api_p95 = percentile(results["API /v1/search"], 95)
        page_p95 = percentile(results["web page /"], 95)
        fragment_p95 = percentile(results["web fragment (htmx)"], 95)
        ratio = page_p95 / api_p95
        verdict = "meets" if ratio <= RATIO_TARGET else "misses"
        print(
            f"  {name}: p95 page {page_p95:.1f} ms / API {api_p95:.1f} ms = ratio {ratio:.2f} "
            f"({verdict} the {RATIO_TARGET} target); fragment ratio {fragment_p95 / api_p95:.2f}"
        )
        served, zipped, parts = page_weight(base, cookie)
    for part, size, packed in parts:
        print(f"  {name}:   {part}: {size} B as served, {packed} B gzipped")
    verdict = "meets" if served <= WEIGHT_TARGET else "misses"
    print(
        f"  {name}: first search page without posters: {served / 1024:.1f} KB as served "
        f"({verdict} the 150 KB target), {zipped / 1024:.1f} KB if gzipped"
    )
    return {"api_p95": api_p95, "page_p95": page_p95, "ratio": ratio, "bytes": served}


def main(argv: list[str] | None = None) -> int:
    """Run the web search benchmark on SQLite and (if configured) PostgreSQL."""
    parser = argparse.ArgumentParser(prog="bench.web_search", description=__doc__.split("\n")[0])
    parser.add_argument("--titles", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="queries per path")
    parser.add_argument("--pg", default=os.environ.get("JOINTPOOL_TEST_DATABASE_URL", ""))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            bench_backend("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if args.pg:
        server_url = normalize_url(args.pg)
        url = create_scratch_pg_database(server_url)
        try:
            bench_backend("postgresql", url, args)
        finally:
            drop_scratch_pg_database(server_url, url)
    else:
        print("  postgresql: skipped (set JOINTPOOL_TEST_DATABASE_URL or --pg)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

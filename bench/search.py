# Cyrillic letters are this benchmark's data.
# ruff: noqa: RUF001
"""Catalog search latency and title-read throughput over HTTP, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.search [--titles 100000] [--clients 16] [--requests 40]
                                       [--pg URL] [--profile]

For each database: load `--titles` titles with three localizations each (Kazakh in Cyrillic,
Kazakh in Latin, and an English-like one, with synopses), serve the real catalog API the way
`jointpool api` does (uvicorn, `--api-workers` processes: 2, one per core), and drive it from
`--clients` concurrent keep-alive clients:

* `GET /v1/search` with a mix of cross-script words, prefixes, one-typo words and two-word
  queries, facets on (the API's default): req/s and latency with `--clients` clients, the
  req/s as a ratio against a trivial FastAPI endpoint (`/ping`, same uvicorn settings, same
  clients) measured in the same run (target >= 0.5).
* The same queries from one client alone, facets off (the as-you-type list) and on: the
  service time without queueing (targets: p95 <= 5 / 10 ms on SQLite, 8 / 15 ms on PostgreSQL).
* `GET /v1/titles/{id}` throughput as a ratio against the trivial endpoint (target >= 0.9).
* `--profile`: each search's time split between the database and Python (`_search_profile`).

The PostgreSQL URL defaults to JOINTPOOL_TEST_DATABASE_URL; without one, SQLite only.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select, text

from bench._search_profile import profile
from pool_core.catalog.rules import GENRES
from pool_core.db import Database, normalize_url
from pool_core.models import (
    Base,
    Organization,
    Title,
    TitleGenre,
    TitleLocalization,
    TitleSearch,
)
from pool_core.search.backends import backend_for
from pool_core.search.engine import build_document
from pool_core.search.typos import add_to_vocabulary
from pool_core.services.accounts import create_organization, create_user
from tests.fixtures.api import free_loopback_port
from tests.fixtures.database import create_scratch_pg_database, drop_scratch_pg_database

KINDS = ("serial", "documentary", "film", "news", "programme")
CYR_CONSONANTS = "бдғжзйкқлмнңпрстшх"
CYR_VOWELS = "аәеиоөұүыі"
# How a Kazakh editor spells Cyrillic in the 2021 Latin alphabet (diacritics included).
KK_LATIN = str.maketrans(
    {
        "а": "a", "ә": "ä", "б": "b", "д": "d", "е": "e", "ғ": "ğ", "ж": "j", "з": "z",
        "и": "i", "й": "i", "к": "k", "қ": "q", "л": "l", "м": "m", "н": "n", "ң": "ñ",
        "о": "o", "ө": "ö", "п": "p", "р": "r", "с": "s", "т": "t", "ұ": "ū", "ү": "ü",
        "ш": "ş", "х": "h", "ы": "y", "і": "i",
    }
)  # fmt: skip
# What a user without a Kazakh keyboard types for the same word.
PLAIN = str.maketrans({"ä": "a", "ğ": "g", "ñ": "n", "ö": "o", "ū": "u", "ü": "u", "ş": "sh"})
EN_SYLLABLES = ("ka", "lo", "mi", "ter", "son", "ra", "vel", "dan", "por", "ish", "ne", "tu")
CHUNK = 5000
# Single-client p95 targets in ms, per database (issue 20).
ONE_CLIENT_P95_TARGETS = {
    "facets off": {"sqlite": 5.0, "postgresql": 8.0},
    "facets on": {"sqlite": 10.0, "postgresql": 15.0},
}


@dataclass(frozen=True)
class Corpus:
    """Generated words and the titles made of them."""

    words: list[str]
    english: list[str]


def make_corpus(rng: random.Random, size: int = 20_000) -> Corpus:
    """Distinct Kazakh-like Cyrillic words and English-like Latin words."""
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(2, 4)
        word = "".join(
            rng.choice(CYR_CONSONANTS) + rng.choice(CYR_VOWELS) + rng.choice(("", "", "н", "р"))
            for _ in range(syllables)
        )
        words.add(word)
    english: set[str] = set()
    # 12 syllables make 1,872 distinct two- and three-syllable words; use most of them.
    while len(english) < 1500:
        english.add("".join(rng.choice(EN_SYLLABLES) for _ in range(rng.randint(2, 3))))
    return Corpus(words=sorted(words), english=sorted(english))


def load_catalog(db: Database, titles: int, rng: random.Random) -> tuple[list[str], Corpus]:
    """Bulk-load titles the way the service indexes them; return their ids and the corpus."""
    corpus = make_corpus(rng)
    with db.session() as session:
        orgs = [
            create_organization(session, code=c, name=c.upper(), country=k)
            for c, k in (("kztv", "KZ"), ("uztv", "UZ"))
        ]
        org_ids = [o.id for o in orgs]
    ids: list[str] = []
    vocabulary: set[str] = set()
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for offset in range(0, titles, CHUNK):
        rows_t: list[dict[str, Any]] = []
        rows_l: list[dict[str, Any]] = []
        rows_g: list[dict[str, Any]] = []
        rows_s: list[dict[str, Any]] = []
        for n in range(offset, min(offset + CHUNK, titles)):
            title_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            ids.append(str(title_id))
            name_words = rng.sample(corpus.words, rng.randint(2, 4))
            cyr = " ".join(name_words).capitalize()
            lat = " ".join(name_words).translate(KK_LATIN).capitalize()
            eng = " ".join(rng.sample(corpus.english, rng.randint(2, 3))).title()
            synopses = [
                " ".join(rng.sample(corpus.words, 8)),
                " ".join(rng.sample(corpus.words, 8)).translate(KK_LATIN),
                " ".join(rng.sample(corpus.english, 8)),
            ]
            created = start + timedelta(seconds=n)
            org_id = org_ids[n % 2]
            duration = rng.randint(5, 150) * 60
            year = rng.randint(1990, 2025)
            kind = rng.choice(KINDS)
            status = "draft" if n % 33 == 0 else "published"
            rows_t.append(
                {
                    "id": title_id, "org_id": org_id, "kind": kind, "status": status,
                    "original_title": cyr, "original_language": "kk", "production_year": year,
                    "countries": ["KZ"], "duration_seconds": duration, "keywords": [],
                    "contributors": [], "created_at": created, "updated_at": created,
                }
            )  # fmt: skip
            for tag, name, synopsis in (
                ("kk-Cyrl", cyr, synopses[0]),
                ("kk-Latn", lat, synopses[1]),
                ("en", eng, synopses[2]),
            ):
                rows_l.append(
                    {
                        "title_id": title_id,
                        "language": tag,
                        "base_language": tag.split("-")[0],
                        "title": name,
                        "synopsis": synopsis,
                    }
                )
            genres = sorted(rng.sample(GENRES, rng.randint(1, 2)))
            for genre in genres:
                rows_g.append({"title_id": title_id, "genre": genre})
            doc = build_document(original_title=cyr, titles=[cyr, lat, eng], texts=synopses)
            vocabulary.update(doc.document.split())
            rows_s.append(
                {
                    "id": n + 1, "title_id": title_id, "org_id": org_id, "kind": kind,
                    "status": status, "production_year": year, "duration_seconds": duration,
                    "title_sort": doc.title_sort, "title_doc": doc.title_doc,
                    "document": doc.document, "created_at": created, "genres": genres,
                    "languages": ["en", "kk"],
                }
            )  # fmt: skip
        with db.session() as session:
            session.execute(insert(Title), rows_t)
            session.execute(insert(TitleLocalization), rows_l)
            session.execute(insert(TitleGenre), rows_g)
            session.execute(insert(TitleSearch), rows_s)
        print(f"  loaded {min(offset + CHUNK, titles)}/{titles} titles", end="\r", flush=True)
    print()
    words = sorted(vocabulary)
    with db.session() as session:
        for offset in range(0, len(words), CHUNK):
            add_to_vocabulary(session, words[offset : offset + CHUNK])
        backend_for(session).rebuild(session)
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return ids, corpus


def make_queries(corpus: Corpus, rng: random.Random, count: int = 400) -> list[str]:
    """A mix of what editors type: Latin for Cyrillic, Cyrillic, prefixes, typos, pairs."""
    queries: list[str] = []
    for n in range(count):
        word = rng.choice(corpus.words)
        latin = word.translate(KK_LATIN).translate(PLAIN)
        style = n % 5
        if style == 0:
            queries.append(latin.capitalize())
        elif style == 1:
            queries.append(word)
        elif style == 2:
            queries.append(latin[: max(4, len(latin) // 2)])
        elif style == 3:
            pos = rng.randrange(1, len(latin) - 1)
            queries.append(latin[:pos] + rng.choice("aeiou") + latin[pos + 1 :])
        else:
            queries.append(f"{latin} {rng.choice(corpus.words)}")
    return queries


Command = tuple[list[str], dict[str, str]]


def api_command(url: str, data_dir: str, workers: int, port: int) -> Command:
    """The real catalog API on this database, started the way production starts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env.update(
        JOINTPOOL_DATABASE_URL=url,
        JOINTPOOL_DATA_DIR=data_dir,
        JOINTPOOL_API_PORT=str(port),
        JOINTPOOL_API_WORKERS=str(workers),
        JOINTPOOL_DB_POOL_SIZE="20",
        JOINTPOOL_LOG_LEVEL="WARNING",
    )
    return [sys.executable, "-m", "jointpool", "api"], env


def trivial_app() -> Any:
    """The baseline: a FastAPI app with one trivial endpoint."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def trivial_command(workers: int, port: int) -> Command:
    """The baseline app under the same uvicorn settings as the API."""
    command = [sys.executable, "-m", "uvicorn", "bench.search:trivial_app", "--factory",
               "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]  # fmt: skip
    return command, dict(os.environ)


@contextmanager
def server(make: Callable[..., Command], *args: Any) -> Iterator[str]:
    """Run a server command on a free port until the block ends; yield its base URL."""
    port = free_loopback_port()
    command, env = make(*args, port)
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    SERVER_PIDS[base] = process.pid
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(base + "/docs", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{' '.join(command[:4])} did not start")
        yield base
    finally:
        process.terminate()  # uvicorn's supervisor stops its workers on SIGTERM
        process.wait(timeout=30)


# The process id of each running server by its base URL, for the CPU accounting.
SERVER_PIDS: dict[str, int] = {}


def _process_cpu(pid: int | str) -> tuple[str, float]:
    """A process's name and CPU time (user + system) so far, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        name, _, rest = stat.read().partition(" (")[2].rpartition(")")
    fields = rest.split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(base: str) -> float:
    """CPU time used so far by the server at `base` and all its workers."""
    total = 0.0
    pending = [SERVER_PIDS[base]]
    while pending:
        pid = pending.pop()
        try:
            total += _process_cpu(pid)[1]
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except FileNotFoundError:
            continue  # a worker that exited meanwhile
    return total


def postgres_cpu_seconds() -> float:
    """CPU time used so far by this machine's PostgreSQL processes (0 when none run)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            name, seconds = _process_cpu(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += seconds if name in ("postgres", "postmaster") else 0.0
    return total


@dataclass(frozen=True)
class Measured:
    """One `drive` pass: latencies, throughput, and the CPU each request cost."""

    latencies: list[float]
    rps: float
    errors: int
    server_cpu_ms: float  # server CPU per request, all workers
    database_cpu_ms: float  # PostgreSQL's CPU per request (SQLite runs inside the server)
    client_cpu_ms: float  # load generator CPU per request (it shares the cores)


def measure(
    base: str, paths: list[str], *, clients: int, per_client: int, headers: dict[str, str]
) -> Measured:
    """`drive`, with the server's and the load generator's CPU time per request."""
    server_before, client_before = cpu_seconds(base), time.process_time()
    database_before = postgres_cpu_seconds()
    latencies, wall, errors = drive(
        base, paths, clients=clients, per_client=per_client, headers=headers
    )
    count = len(latencies)
    return Measured(
        latencies=latencies,
        rps=count / wall,
        errors=errors,
        server_cpu_ms=(cpu_seconds(base) - server_before) * 1000 / count,
        database_cpu_ms=(postgres_cpu_seconds() - database_before) * 1000 / count,
        client_cpu_ms=(time.process_time() - client_before) * 1000 / count,
    )


def drive(
    base: str, paths: list[str], *, clients: int, per_client: int, headers: dict[str, str]
) -> tuple[list[float], float, int]:
    """Send `per_client` requests from each of `clients` threads; latencies, wall time, errors.

    Each client is one keep-alive `http.client` connection: a load generator as light as the
    standard library allows, since it shares the two cores with the server it measures.
    """
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    address = urllib.parse.urlsplit(base)

    def get(connection: http.client.HTTPConnection, path: str) -> bool:
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            connection.close()  # reconnects on the next request
            return False

    def client(number: int) -> None:
        nonlocal errors
        mine: list[float] = []
        failed = 0
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        get(connection, paths[number % len(paths)])  # open the keep-alive connection
        barrier.wait()
        for n in range(per_client):
            path = paths[(number * per_client + n) % len(paths)]
            started = time.perf_counter()
            ok = get(connection, path)
            mine.append(time.perf_counter() - started)
            failed += not ok
        connection.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, errors


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) in milliseconds."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    """Load, serve and measure one database; print and return the numbers."""
    rng = random.Random(20261126)
    db = Database(url)
    Base.metadata.create_all(db.engine)
    started = time.perf_counter()
    ids, corpus = load_catalog(db, args.titles, rng)
    with db.session() as session:
        viewer = session.scalar(select(Organization).where(Organization.code == "uztv"))
        assert viewer is not None
        token = create_user(session, org=viewer, username="bench-editor", role="editor").api_token
    db.dispose()
    loaded = time.perf_counter() - started
    print(f"  {name}: {args.titles} titles x 3 localizations loaded in {loaded:.0f} s")
    headers = {"Authorization": f"Bearer {token}"}
    queries = make_queries(corpus, rng)
    search_paths = [f"/v1/search?{httpx.QueryParams({'q': q})}" for q in queries]
    # Every 33rd title is a draft of one of the two organizations: read only visible ones.
    visible = [title_id for n, title_id in enumerate(ids) if n % 33]
    title_paths = [f"/v1/titles/{rng.choice(visible)}" for _ in range(1000)]
    with (
        tempfile.TemporaryDirectory() as data_dir,
        server(api_command, url, data_dir, args.api_workers) as base,
    ):
        drive(base, search_paths[:50], clients=4, per_client=10, headers=headers)  # warm-up
        time.sleep(2)
        busy = measure(
            base, search_paths, clients=args.clients, per_client=args.requests, headers=headers
        )
        p50, p95 = percentile(busy.latencies, 50), percentile(busy.latencies, 95)
        print(
            f"  {name}: search (facets on) x{len(busy.latencies)} with {args.clients} clients: "
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, {busy.rps:.0f} req/s, {busy.errors} errors"
        )
        # One client alone: the service time without queueing, as an editor typing sees it.
        # As you type the list is fetched without facets; the facet panel with them.
        for label, suffix in (("facets off", "&facets=false"), ("facets on", "")):
            paths = [path + suffix for path in search_paths]
            alone = measure(base, paths, clients=1, per_client=len(paths), headers=headers)
            target = ONE_CLIENT_P95_TARGETS[label][name]
            one_p95 = percentile(alone.latencies, 95)
            print(
                f"  {name}: search ({label}) x{len(alone.latencies)} from 1 client: "
                f"p50 {percentile(alone.latencies, 50):.1f} ms, p95 {one_p95:.1f} ms "
                f"({'meets' if one_p95 <= target else 'misses'} p95 <= {target} ms), "
                f"server CPU {alone.server_cpu_ms:.1f} ms/request, {alone.errors} errors"
            )
        reads = measure(
            base, title_paths, clients=args.clients, per_client=args.requests * 2, headers=headers
        )
    with server(trivial_command, args.api_workers) as base:
        drive(base, ["/ping"], clients=4, per_client=50, headers={})  # warm-up
        time.sleep(2)  # every worker done importing, so startup is not counted as load
        ping = measure(
            base, ["/ping"], clients=args.clients, per_client=args.requests * 2, headers={}
        )
    # The floor of this setup: what queueing alone costs a trivial endpoint at this concurrency.
    print(
        f"  {name}: trivial endpoint with {args.clients} clients: {ping.rps:.0f} req/s, "
        f"p50 {percentile(ping.latencies, 50):.1f} ms, p95 {percentile(ping.latencies, 95):.1f} ms"
    )
    print(
        f"  {name}: search with {args.clients} clients, facets on: {busy.rps:.0f} req/s = "
        f"{busy.rps / ping.rps:.2f} x the trivial endpoint (target >= 0.5)"
    )
    print(
        f"  {name}: GET /v1/titles/{{id}} {reads.rps:.0f} req/s vs trivial endpoint "
        f"{ping.rps:.0f} req/s: ratio {reads.rps / ping.rps:.2f} (target >= 0.9; "
        f"{reads.errors + ping.errors} errors)"
    )
    # Why the ratios are what they are: on 2 cores shared by the server, PostgreSQL and the
    # load generator, req/s is bounded by 2 s of CPU / (the CPU all three spend per request).
    for what, run in (("search", busy), ("title read", reads), ("trivial", ping)):
        spent = run.server_cpu_ms + run.database_cpu_ms + run.client_cpu_ms
        print(
            f"  {name}: CPU per {what} request: API {run.server_cpu_ms:.2f} ms + PostgreSQL "
            f"{run.database_cpu_ms:.2f} ms + load generator {run.client_cpu_ms:.2f} ms "
            f"-> at most {2000 / spent:.0f} req/s on 2 cores"
        )
    if args.profile:
        profile(name, url, queries)
    return {"p50": p50, "p95": p95, "ratio": reads.rps / ping.rps}


def main() -> int:
    """Run the search benchmark on SQLite and (if configured) PostgreSQL."""
    parser = argparse.ArgumentParser(prog="bench.search", description=__doc__.split("\n")[0])
    parser.add_argument("--titles", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=40, help="search requests per client")
    parser.add_argument("--pg", default=os.environ.get("JOINTPOOL_TEST_DATABASE_URL", ""))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--api-workers", type=int, default=2, help="uvicorn workers (one per core here)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also split one search's time in-process: per statement in the database, the rest",
    )
    args = parser.parse_args(sys.argv[1:])
    results: dict[str, dict[str, float]] = {}
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = bench_backend("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if args.pg:
        server_url = normalize_url(args.pg)
        url = create_scratch_pg_database(server_url)
        try:
            results["postgresql"] = bench_backend("postgresql", url, args)
        finally:
            drop_scratch_pg_database(server_url, url)
    else:
        print("  postgresql: skipped (set JOINTPOOL_TEST_DATABASE_URL or --pg)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

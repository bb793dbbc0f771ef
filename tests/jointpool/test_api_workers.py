"""`jointpool api` with several uvicorn workers: each builds its app from the environment."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from catalog_api.app import NoDelayH11Protocol
from pool_core.db import Database
from pool_core.services import accounts
from tests.fixtures.api import free_loopback_port


def test_two_workers_serve_the_same_database_and_stop_together(
    database: Database, tmp_path: Path
) -> None:
    with database.write_session() as session:
        org = accounts.create_organization(session, code="kztv", name="KZ TV", country="KZ")
        token = accounts.create_user(session, org=org, username="kz-ed", role="editor").api_token
    port = free_loopback_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env.update(
        JOINTPOOL_DATA_DIR=str(tmp_path / "var"),
        JOINTPOOL_DATABASE_URL=database.engine.url.render_as_string(hide_password=False),
        JOINTPOOL_API_PORT=str(port),
        JOINTPOOL_API_WORKERS="2",
    )
    log = tmp_path / "api.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "jointpool", "api"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        # One worker answering does not mean the other is up yet: a worker still importing
        # when SIGTERM comes would die without ever logging.
        while len(_started_pids(log)) < 2:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        workers = _children(process.pid)
        assert len(workers) == 2, workers
        # Fresh connections land on either worker; every one of them knows the token.
        for _ in range(10):
            me = httpx.get(base + "/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200 and me.json()["organization"] == "kztv"
        # /metrics adds up every worker's counts (prometheus multiprocess mode), whichever
        # worker answers the scrape.
        for _ in range(4):
            scraped = httpx.get(base + "/metrics").text
            assert _sample(scraped, "jointpool_http_requests_total", route="/v1/me") == 10
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    # Each worker (a fresh interpreter) logs through the pool's structured format too.
    # (uvicorn's supervisor replaces a worker that misses its health check, so a loaded
    # machine may log more than two; the two serving ones must be among them.)
    started = _started_pids(log)
    assert set(workers) <= set(started), log.read_text()
    # The supervisor takes its workers down with it.
    assert all(not _alive(pid) for pid in started)


def _started_pids(log: Path) -> list[int]:
    pattern = r"INFO api uvicorn\.error: Started server process \[(\d+)\]"
    return [int(pid) for pid in re.findall(pattern, log.read_text())]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(child) for child in children]
    # uvicorn's multiprocess supervisor may also run a resource tracker: keep the workers.
    return [child for child in found if "multiprocessing.resource_tracker" not in _cmdline(child)]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_connections_of_a_socket_uvicorn_binds_itself_get_nagle_turned_off() -> None:
    # What uvicorn does with several workers: a socket made without naming IPPROTO_TCP, on
    # which asyncio does not set TCP_NODELAY for accepted connections.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[int] = []

    class Recording(NoDelayH11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    config = uvicorn.Config(app, http=Recording, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.02)
        assert httpx.get(f"http://127.0.0.1:{port}/ping", timeout=10).json() == {"ok": True}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
    assert seen and all(seen)


def _sample(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total

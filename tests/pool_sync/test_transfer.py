"""Transfer behaviour against the real API and SeaweedFS: dry run, JSON summary per run, retries
on 5xx and dropped connections, and the run lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.licensing import workflow
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_sync.cli import main
from pool_sync.config import STATE_DIR
from tests.pool_sync.harness import EP1, EP2, Env, make_env, sha


@pytest.fixture
def env(
    database: Database, storage: S3Storage, storage_settings: Settings, tmp_path: Path
) -> Iterator[Env]:
    yield from make_env(database, storage, storage_settings, tmp_path)


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_dry_run_lists_what_would_be_fetched_and_writes_nothing(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary = env.run("--dry-run")
    assert code == 0
    assert _tree(env.dest) == []  # no state folder, no lock, no partial file, no metadata
    assert summary["dry_run"] is True and summary["downloaded"] == 0
    would = {w["path"]: w["size"] for w in summary["would_fetch"]}
    assert would == {EP1: 300_000, EP2: 1_200_000}
    assert summary["would_fetch_bytes"] == 1_500_000 and summary["bytes_fetched"] == 0
    out = capsys.readouterr().out
    assert f"would fetch {EP1}" in out and "2 files would be fetched" in out
    # Without --summary-json a dry run writes no summary either (the destination stays empty).
    assert main(["--config", str(env.config), "--dry-run"]) == 0
    assert _tree(env.dest) == []

    assert env.run()[0] == 0
    code, summary = env.run("--dry-run")
    assert code == 0 and summary["would_fetch"] == []
    # A revoked license: the dry run names what --prune would delete, and deletes nothing.
    with env.db.session() as session:
        owner_rm = session.get(type(env.lw.world.owner_rm), env.lw.world.owner_rm.id)
        assert owner_rm is not None
        workflow.revoke_license(
            session, license_id=env.lw.license_id, actor=Actor.for_user(owner_rm)
        )
    code, summary = env.run("--dry-run", "--prune")
    assert code == 0 and sorted(summary["no_longer_licensed"]) == [EP1, EP2]
    assert summary["pruned"] == [] and (env.dest / EP1).exists()


def test_every_run_writes_a_json_summary_for_monitoring(env: Env) -> None:
    # Default: the state folder's last-run.json.
    assert main(["--config", str(env.config)]) == 0
    last = json.loads((env.dest / STATE_DIR / "last-run.json").read_text(encoding="utf-8"))
    assert last["exit_code"] == 0 and last["downloaded"] == 2 and last["failed"] == 0
    assert last["client"] == "jointpool-sync 0.1.0"
    assert last["started"] <= last["finished"]
    # Configured with {started}: one file per run.
    logs = env.tmp / "logs"
    env.write_config(summary_json=str(logs / "sync-{started}.json"))
    assert main(["--config", str(env.config)]) == 0
    assert main(["--config", str(env.config)]) == 0
    runs = sorted(logs.glob("sync-*.json"))
    assert len(runs) == 2
    second = json.loads(runs[1].read_text(encoding="utf-8"))
    assert second["exit_code"] == 0 and second["skipped"] == 2
    # A run that cannot start still leaves its summary, with the reason.
    env.write_config(token="jp_not-a-token", summary_json=str(logs / "failed.json"))
    assert main(["--config", str(env.config)]) == 2
    failed = json.loads((logs / "failed.json").read_text(encoding="utf-8"))
    assert failed["exit_code"] == 2 and "refused the token" in failed["error"]


class FaultyProxy:
    """A reverse proxy in front of the real API that fails the first requests of each route."""

    def __init__(self, upstream: str, faults: dict[str, list[int | str]]) -> None:
        self.upstream = upstream
        self.faults = {route: list(plan) for route, plan in faults.items()}
        self.seen: list[tuple[str, int | str]] = []
        self._lock = threading.Lock()

    def _fault(self, path: str) -> int | str | None:
        with self._lock:
            for route, plan in self.faults.items():
                if path.startswith(route) and plan:
                    fault = plan.pop(0)
                    self.seen.append((route, fault))
                    return fault
        return None

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Run the proxy on a free loopback port; yield its base URL."""
        proxy = self
        client = httpx.Client(base_url=self.upstream, timeout=60)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fault = proxy._fault(self.path)
                if fault == "drop":
                    self.close_connection = True  # no answer at all: a network error
                    return
                if isinstance(fault, int):
                    body = b'{"title": "injected failure"}'
                    self.send_response(fault)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                upstream = client.get(
                    self.path, headers={"Authorization": self.headers["Authorization"]}
                )
                self.send_response(upstream.status_code)
                self.send_header("Content-Type", upstream.headers.get("content-type", ""))
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            client.close()


def test_api_5xx_and_dropped_connections_are_retried_with_backoff(env: Env) -> None:
    proxy = FaultyProxy(
        env.base,
        {
            "/v1/changes": [503, "drop"],
            "/v1/licensed-assets": [502],
            "/v1/assets/": [500, "drop"],
        },
    )
    with proxy.serve() as base:
        config = env.tmp / "proxied.json"
        config.write_text(
            json.dumps({"api_url": base, "token": env.lw.buyer_token, "destination": str(env.dest)})
        )
        summary = env.tmp / "proxied-summary.json"
        assert main(["--config", str(config), "--summary-json", str(summary)]) == 0
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["downloaded"] == 2 and data["failed"] == 0
    assert sha((env.dest / EP2).read_bytes()) == sha(env.lw.masters["ep2.mxf"])
    # Every injected failure was met (and got over) by the client.
    assert sorted(map(str, proxy.seen)) == sorted(
        map(
            str,
            [
                ("/v1/changes", 503),
                ("/v1/changes", "drop"),
                ("/v1/licensed-assets", 502),
                ("/v1/assets/", 500),
                ("/v1/assets/", "drop"),
            ],
        )
    )


def test_an_api_that_keeps_failing_ends_the_run_with_exit_2(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = FaultyProxy(env.base, {"/v1/changes": [503] * 10})
    with proxy.serve() as base:
        env.write_config(attempts=3)
        config = env.tmp / "down.toml"
        config.write_text(env.config.read_text().replace(env.base, base))
        assert main(["--config", str(config)]) == 2
    assert len(proxy.seen) == 3  # attempts = 3: two retries, then give up
    assert "failed with 503" in capsys.readouterr().err
    assert not (env.dest / EP1).exists()


def test_run_lock_keeps_two_runs_apart_and_dies_with_its_holder(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(env.config)]) == 0
    last_run = env.dest / STATE_DIR / "last-run.json"
    before = last_run.read_text(encoding="utf-8")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from pool_sync.state import exclusive_lock\n"
            "with exclusive_lock(Path(sys.argv[1])):\n"
            "    print('held', flush=True); sys.stdin.read()",
            str(env.dest / STATE_DIR / "lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert main(["--config", str(env.config)]) == 2
        assert "another sync is running" in capsys.readouterr().err
        # The refused run leaves the summary of the run that holds the lock alone.
        assert last_run.read_text(encoding="utf-8") == before
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        for stream in (holder.stdin, holder.stdout):
            if stream:
                stream.close()
    # The lock belongs to the open file: a killed holder leaves nothing stale behind.
    assert main(["--config", str(env.config)]) == 0
    assert os.path.exists(env.dest / STATE_DIR / "lock")

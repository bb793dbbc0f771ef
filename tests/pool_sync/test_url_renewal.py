"""Short-lived download URLs, through a real HTTP proxy: an expired URL is renewed and the
download resumes from the bytes on disk; redirects are followed.

The pool hands out presigned URLs that live `JOINTPOOL_DOWNLOAD_URL_SECONDS` (here 2 s), and
SeaweedFS refuses an expired one with 403. The sync reaches both the API and storage through
the proxy named by `HTTP_PROXY`, as a broadcaster's archive server often must; the proxy cuts
the first download of the big master after 400 kB and only once its URL has expired, so the
sync must resume with a URL storage refuses, then ask the API for a new one.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.licensing import workflow
from pool_core.storage.s3 import S3Storage
from pool_sync.download import fetch
from tests.fixtures.ftp import wait_until
from tests.fixtures.storage import EmbeddedSeaweed, settings_for
from tests.pool_sync.harness import EP1, EP2, Env, make_env, sha

URL_SECONDS = 2
CUT_AFTER = 400_000
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te"}


def expired(url: str) -> bool:
    """Whether storage refuses `url` now (asked directly, not through any proxy)."""
    with httpx.Client(trust_env=False) as client:
        return client.get(url, headers={"Range": "bytes=0-0"}).status_code == 403


@dataclass
class ForwardProxy:
    """A plain HTTP forward proxy (absolute-URI GETs) that can cut one big download."""

    cut_bigger_than: int
    # Run while the cut connection is held (before the URL has expired).
    while_held: Callable[[], None] = lambda: None
    seen: list[tuple[str, str | None, int]] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Run the proxy on a free loopback port; yield its URL."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                target = urlsplit(self.path)
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.request(
                    "GET", self.path[len(f"http://{target.netloc}") :], headers=headers
                )
                answer = upstream.getresponse()
                proxy.seen.append((self.path, self.headers.get("Range"), answer.status))
                length = int(answer.getheader("content-length") or 0)
                cut = answer.status == 200 and length > proxy.cut_bigger_than and not proxy.cut
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                self.end_headers()
                if cut:
                    proxy.cut.append(self.path)
                    self.wfile.write(answer.read(CUT_AFTER))
                    self.wfile.flush()
                    proxy.while_held()
                    # Hold the connection until the URL it carried has expired, then drop it.
                    wait_until(lambda: expired(self.path), "the download URL to expire")
                    self.close_connection = True
                else:
                    while block := answer.read(1 << 16):
                        self.wfile.write(block)
                upstream.close()

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


@pytest.fixture
def env(
    database: Database, storage: S3Storage, seaweed: EmbeddedSeaweed, tmp_path: Path
) -> Iterator[Env]:
    settings = settings_for(
        seaweed, data_dir=tmp_path, bucket=storage.bucket, download_url_seconds=URL_SECONDS
    )
    yield from make_env(database, storage, settings, tmp_path)


def test_an_expired_url_is_renewed_and_the_download_resumes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ForwardProxy(cut_bigger_than=1_000_000)  # ep2 (1.2 MB), not ep1 (300 kB)
    with proxy.serve() as proxy_url:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        # One attempt: the run may not hide a failed renewal behind its retry loop.
        env.write_config(attempts=1)
        code, summary = env.run()
    assert code == 0, summary
    assert summary["downloaded"] == 2 and summary["failed"] == 0
    assert sha((env.dest / EP2).read_bytes()) == sha(env.lw.masters["ep2.mxf"])
    assert sha((env.dest / EP1).read_bytes()) == sha(env.lw.masters["ep1.mxf"])
    # Nothing was fetched twice: the resume started at the byte the cut left on disk.
    assert summary["bytes_fetched"] == 1_500_000
    # Through the proxy: the cut download, the same (expired) URL refused at the resume
    # offset, a new grant asked for that offset, and the new URL answering from it.
    [first] = proxy.cut
    storage_path = urlsplit(first).path
    downloads = [(u, r, s) for u, r, s in proxy.seen if urlsplit(u).path == storage_path]
    assert [(r, s) for _, r, s in downloads] == [
        (None, 200),
        (f"bytes={CUT_AFTER}-", 403),
        (f"bytes={CUT_AFTER}-", 206),
    ]
    assert downloads[0][0] == downloads[1][0] != downloads[2][0]
    grants = [u for u, _, s in proxy.seen if "/download" in u and s == 200]
    assert any(f"offset={CUT_AFTER}" in u for u in grants)
    item = next(i for i in summary["items"] if i["path"] == EP2)
    assert item["resumed_from"] == 0  # resumed within the fetch; the file began at byte 0


def test_a_redirect_to_storage_is_followed(storage: S3Storage, tmp_path: Path) -> None:
    data = b"redirected master " * 40_000
    storage.put("masters/r/master.mxf", data)
    url = storage.presigned_get("masters/r/master.mxf", expires_in=300)

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(307)
            self.send_header("Location", url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        part, final = tmp_path / "m.part", tmp_path / "m.mxf"
        part.write_bytes(data[:1000])  # the Range header survives the redirect
        result = fetch(
            url_for=lambda _offset: f"http://127.0.0.1:{server.server_address[1]}/m",
            part=part,
            final=final,
            size=len(data),
            sha256=sha(data),
        )
    finally:
        server.shutdown()
        server.server_close()
    assert final.read_bytes() == data and result.resumed_from == 1000
    assert result.fetched == len(data) - 1000


def test_a_license_revoked_mid_download_stops_it_at_the_next_renewal(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def revoke() -> None:
        with env.db.session() as session:
            owner_rm = session.get(type(env.lw.world.owner_rm), env.lw.world.owner_rm.id)
            assert owner_rm is not None
            workflow.revoke_license(
                session, license_id=env.lw.license_id, actor=Actor.for_user(owner_rm)
            )

    proxy = ForwardProxy(cut_bigger_than=1_000_000, while_held=revoke)
    with proxy.serve() as proxy_url:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        env.write_config(attempts=1, parallel=1)
        code, summary = env.run()
    # The expired URL is refused by storage, and the API refuses a new one: the master
    # stops where the cut left it, and nothing is in place.
    assert code == 1 and summary["cursor_saved"] is False
    item = next(i for i in summary["items"] if i["path"] == EP2)
    assert item["status"] == "failed" and "not allowed" in item["error"]
    assert not (env.dest / EP2).exists()
    [cut] = proxy.cut
    storage_path = urlsplit(cut).path
    downloads = [(r, s) for u, r, s in proxy.seen if urlsplit(u).path == storage_path]
    assert downloads == [(None, 200), (f"bytes={CUT_AFTER}-", 403)]

"""`jointpool up` (what `make run` runs) comes up, serves FTP and HTTP, and stops on Ctrl-C."""

from __future__ import annotations

import ftplib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from pool_core.seaweed import free_port_block, port_is_free


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_banner(process: subprocess.Popen[str], timeout: float) -> str:
    """Read stdout until the banner's last line, failing with what was printed."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if line.strip().startswith("Try: curl"):
            return "".join(seen)
    raise AssertionError("banner not printed; output was:\n" + "".join(seen))


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.slow
def test_up_serves_everything_and_stops_cleanly(tmp_path: Path) -> None:
    s3_port, base_port = free_port_block()
    ftp_port, api_port = _free_port(), _free_port()
    passive = _free_port()
    ftp_metrics, worker_metrics = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env.update(
        JOINTPOOL_DATA_DIR=str(tmp_path / "var"),
        JOINTPOOL_FTP_PORT=str(ftp_port),
        JOINTPOOL_FTP_PASSIVE_PORTS=f"{passive}-{passive}",
        JOINTPOOL_API_PORT=str(api_port),
        JOINTPOOL_S3_EMBEDDED_PORT=str(s3_port),
        JOINTPOOL_S3_EMBEDDED_BASE_PORT=str(base_port),
        JOINTPOOL_FTP_METRICS_PORT=str(ftp_metrics),
        JOINTPOOL_WORKER_METRICS_PORT=str(worker_metrics),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "jointpool", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner = _wait_for_banner(process, timeout=180)
        assert f"ftp://127.0.0.1:{ftp_port}" in banner
        assert f"http://127.0.0.1:{api_port}/docs" in banner
        assert f"http://127.0.0.1:{api_port}/metrics" in banner
        assert f"http://127.0.0.1:{ftp_metrics}/metrics" in banner
        assert f"http://127.0.0.1:{worker_metrics}/metrics" in banner
        match = re.search(r"user (az-uploader) password (\S+)", banner)
        assert match, banner
        web = re.search(r"Web UI\s+(http://\S+/)", banner)
        assert web and web.group(1) == f"http://127.0.0.1:{api_port}/", banner
        editor = re.search(r"user (kz-editor) password (\S+)", banner)
        assert editor, banner
        stored = json.loads((tmp_path / "var" / "demo-credentials.json").read_text())
        assert {user["username"] for user in stored} >= {"az-uploader", "kz-editor"}

        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(f"http://127.0.0.1:{api_port}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert status == 200, body

        ftp = ftplib.FTP_TLS()
        deadline = time.monotonic() + 60
        while True:
            try:
                ftp.connect("127.0.0.1", ftp_port, timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        ftp.login(match.group(1), match.group(2))
        ftp.prot_p()
        assert "incoming" in ftp.nlst("/")
        ftp.quit()

        # The web UI at the printed address takes the printed demo login.
        with httpx.Client(base_url=web.group(1), follow_redirects=True, timeout=30) as browser:
            form = browser.get("/signin")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert form.status_code == 200 and token, form.text
            home = browser.post(
                "/signin",
                data={
                    "username": editor.group(1),
                    "password": editor.group(2),
                    "csrf_token": token.group(1),
                    "next": "/",
                },
            )
            assert home.status_code == 200 and str(home.url) == web.group(1), home.text
            assert "kz-editor" in home.text or "Sign out" in home.text, home.text

        # The FTP node and the worker serve their metrics and health on their own ports.
        for port in (ftp_metrics, worker_metrics, api_port):
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, body = _get(f"http://127.0.0.1:{port}/readyz")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            assert status == 200, body
            status, body = _get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200 and b"jointpool_build_info{" in body, body[:300]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            remaining = process.communicate(timeout=60)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0
    assert "Joint FTP Pool stopped." in remaining
    # Every child is gone: the ports they listened on can be bound again.
    deadline = time.monotonic() + 20
    ports = (ftp_port, api_port, s3_port, ftp_metrics, worker_metrics)
    while not all(port_is_free(p) for p in ports):
        assert time.monotonic() < deadline, "a service still holds its port after stop"
        time.sleep(0.5)


def test_children_get_the_resolved_paths_whatever_their_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jointpool.launcher import child_environment
    from pool_core.settings import Settings

    for name in ("DATA_DIR", "DATABASE_URL", "FTP_TLS_CERT", "FTP_TLS_KEY", "TRANSCODE_TMP_DIR"):
        monkeypatch.delenv(f"JOINTPOOL_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JOINTPOOL_TRANSCODE_TMP_DIR", "scratch")
    settings = Settings(database_url="sqlite:///db/pool.db")
    env = child_environment(settings)
    probe = (
        "from pool_core.settings import Settings; s = Settings(); "
        "print(s.data_dir, s.effective_database_url, s.transcode_tmp_dir, s.ftp_tls_cert)"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    seen = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    root = tmp_path.resolve()
    assert seen == [
        str(root / "var"),
        f"sqlite:///{root}/db/pool.db",
        str(root / "scratch"),
        "None",
    ]

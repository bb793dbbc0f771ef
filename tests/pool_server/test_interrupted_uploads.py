"""Interrupted uploads never become truncated masters; every client's resume works (issue 12).

The matrix: how the link breaks (a real client killed, a reset, a clean FIN with the control
connection gone, ABOR) times where it breaks (inside the first part, exactly at a part
boundary, in a later part; parts are 6 MiB here). Every case ends byte-identical, with one
asset version carrying the full SHA-256, and nothing of a truncated version in /v1/assets,
/v1/changes or the job queue. The server kill -9 row is tests/pool_server/test_crash_resume.py.
"""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from catalog_api.app import create_app
from pool_core.db import Database
from pool_core.models import Asset, ChangeEvent, Job, PendingUpload
from pool_core.services.accounts import create_organization, create_user
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.settle import SETTLE_JOB, settle
from pool_core.uploads.status import describe_unfinished
from tests.fixtures.api import LiveServer, bearer, serve_in_thread
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_plain,
    ftp_test_settings,
    live_upload_size,
    requires_lftp,
    start_ftp_server,
    wait_received,
    wait_until,
)
from tests.fixtures.rclone import (
    rclone_command,
    rclone_env,
    requires_rclone,
    write_rclone_config,
)

MIB = 1 << 20
PART = 6 * MIB
SIZE = 2 * PART + 3 * MIB // 2 + 7
CUTS = {"first-part": 3 * MIB, "part-boundary": PART, "later-part": PART + 7 * MIB // 2}
# Longer than any test: the truncated version must be superseded, never settle on its own.
SETTLE_SECONDS = 600


def _payload(seed: str) -> bytes:
    return hashlib.shake_256(seed.encode()).digest(SIZE)


@dataclass
class Pool:
    """The FTP server and the API on one database and bucket, and one member's logins."""

    ftp: RunningFTP
    api: LiveServer
    db: Database
    account: FtpLogin
    api_token: str


@pytest.fixture
def pool(database: Database, storage: S3Storage, storage_settings: Settings) -> Iterator[Pool]:
    """A member with an FTP login and an editor's API token, the FTP server and the API."""
    with database.write_session() as session:
        org = create_organization(session, code="mtrk", name="MTRK", country="KG")
        uploader = create_user(session, org=org, username="mtrk-ops", role="uploader")
        editor = create_user(session, org=org, username="mtrk-editor", role="editor")
        account = FtpLogin(org.id, uploader.user.id, uploader.user.username, uploader.ftp_password)
        token = editor.api_token
    settings = ftp_test_settings(
        storage_settings,
        upload_part_size=PART,
        upload_settle_seconds=SETTLE_SECONDS,
        upload_lease_seconds=5,
    )
    api = serve_in_thread(create_app(settings, database, storage))
    try:
        with start_ftp_server(settings, database, storage) as ftp:
            yield Pool(ftp, api, database, account, token)
    finally:
        api.stop()


def _released(pool: Pool, path: str) -> bool:
    """The interrupted writer has ended: no live writer, and no held pending upload."""
    if live_upload_size(path) is not None:
        return False
    with pool.db.session() as session:
        row = session.scalar(
            select(PendingUpload).where(
                PendingUpload.org_id == pool.account.org_id, PendingUpload.path == path
            )
        )
        return row is None or row.holder is None


def _retrying(action: Callable[[], None]) -> None:
    """Run `action`, again while the server still ends the interrupted session."""
    deadline = time.monotonic() + 60
    while True:
        try:
            action()
            return
        except ftplib.error_perm as exc:
            if "another session" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _check_one_full_version(pool: Pool, path: str, data: bytes) -> None:
    """Byte-identical; one asset with the full SHA-256; nothing truncated seen anywhere."""
    digest = hashlib.sha256(data).hexdigest()
    client = connect_plain(pool.ftp, pool.account)
    try:
        out = io.BytesIO()
        client.retrbinary(f"RETR {path}", out.write)
        assert out.getvalue() == data
        assert client.sendcmd(f"XSHA256 {path}")[4:].lower() == digest
        assert client.sendcmd(f"XMD5 {path}")[4:].lower() == hashlib.md5(data).hexdigest()
    finally:
        client.quit()
    with pool.db.session() as session:
        assets = session.scalars(
            select(Asset).where(Asset.org_id == pool.account.org_id, Asset.source_path == path)
        ).all()
        assert [(a.size, a.sha256, a.version) for a in assets] == [(len(data), digest, 1)]
        final = str(assets[0].id)
        jobs = session.scalars(select(Job).where(Job.org_id == pool.account.org_id)).all()
        assert sorted(j.kind for j in jobs) == sorted(["transcode", SETTLE_JOB])
        assert {j.payload["asset_id"] for j in jobs} == {final}
        events = session.scalars(
            select(ChangeEvent).where(ChangeEvent.subject_type == "asset")
        ).all()
        assert [e for e in events if e.subject_id != final] == []
        assert session.scalars(select(PendingUpload)).all() == []
    headers = bearer(pool.api_token)
    listed = httpx.get(f"{pool.api.base_url}/v1/assets", headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    assert [(a["id"], a["sha256"]) for a in listed.json()["items"]] == [(final, digest)]
    # Nothing announced it yet (the window is open); when it settles, one event, whole file.
    assert _asset_events(pool) == []
    with pool.db.write_session() as session:
        assert settle(session, asset_id=uuid.UUID(final))
    received = _asset_events(pool)
    assert [(e["kind"], e["subject_id"], e["data"]["sha256"]) for e in received] == [
        ("asset.received", final, digest)
    ]


def _asset_events(pool: Pool) -> list[dict[str, object]]:
    response = httpx.get(
        f"{pool.api.base_url}/v1/changes", headers=bearer(pool.api_token), timeout=30
    )
    assert response.status_code == 200, response.text
    return [e for e in response.json()["events"] if e["subject_type"] == "asset"]


# --- ftplib: reset, clean FIN without reading 226, ABOR -------------------------------------


def _start_stor(pool: Pool, path: str, data: bytes) -> tuple[ftplib.FTP, socket.socket]:
    client = connect_plain(pool.ftp, pool.account)
    client.voidcmd("TYPE I")
    conn = client.transfercmd(f"STOR {path}")
    conn.sendall(data)
    wait_received(path, len(data))
    return client, conn


def _break_with_reset(pool: Pool, path: str, data: bytes) -> None:
    client, conn = _start_stor(pool, path, data)
    # SO_LINGER 0: close() sends RST, as a dropped NAT mapping or a crashed router does.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    client.close()  # ftplib: closes the socket and its file, sends nothing


def _break_with_fin_unread_226(pool: Pool, path: str, data: bytes) -> None:
    client, conn = _start_stor(pool, path, data)
    conn.close()
    # The server sees a clean end with the control connection open: the file completes
    # (and its 226 is sent); the client dies without reading it.
    wait_until(lambda: live_upload_size(path) is None, "the server to end the transfer")
    client.close()  # ftplib: closes the socket and its file, sends nothing


def _break_with_control_gone_then_fin(pool: Pool, path: str, data: bytes) -> None:
    client, conn = _start_stor(pool, path, data)
    # The control connection goes first, then the data ends cleanly: nobody is left to
    # receive a 226, so however the server orders the two events this is no completed file.
    client.close()  # ftplib: closes the socket and its file, sends nothing
    conn.close()


def _break_with_abor(pool: Pool, path: str, data: bytes) -> None:
    client, conn = _start_stor(pool, path, data)
    client.putcmd("ABOR")
    conn.close()
    # RFC 959: 426 for the aborted transfer, then 226 for the ABOR itself.
    assert client.getline().startswith("426")
    assert client.getline().startswith("226")
    client.quit()


def _resume_rest_stor(pool: Pool, path: str, data: bytes) -> None:
    def resume() -> None:
        client = connect_plain(pool.ftp, pool.account)
        try:
            size = client.size(path)
            assert size is not None and 0 < size <= len(data)
            reply = client.storbinary(f"STOR {path}", io.BytesIO(data[size:]), rest=size)
            assert reply.startswith("226")
        finally:
            client.close()

    _retrying(resume)


def _resume_appe(pool: Pool, path: str, data: bytes) -> None:
    def resume() -> None:
        client = connect_plain(pool.ftp, pool.account)
        try:
            size = client.size(path)
            assert size is not None and 0 < size <= len(data)
            assert client.storbinary(f"APPE {path}", io.BytesIO(data[size:])).startswith("226")
        finally:
            client.close()

    _retrying(resume)


# (break, resume, whether the break leaves a complete file of the cut bytes behind)
FTPLIB_ROWS = {
    "reset": (_break_with_reset, _resume_rest_stor, False),
    "fin-226-unread": (_break_with_fin_unread_226, _resume_appe, True),
    "control-gone-then-fin": (_break_with_control_gone_then_fin, _resume_appe, False),
    "abor": (_break_with_abor, _resume_rest_stor, False),
}


def _short_assets(pool: Pool, path: str) -> list[int]:
    with pool.db.session() as session:
        return list(
            session.scalars(
                select(Asset.size).where(
                    Asset.org_id == pool.account.org_id, Asset.source_path == path
                )
            )
        )


@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
@pytest.mark.parametrize("row", FTPLIB_ROWS, ids=FTPLIB_ROWS.keys())
def test_ftplib_break_and_resume(pool: Pool, row: str, cut: int) -> None:
    data = _payload(f"{row}-{cut}")
    path = f"/incoming/{row}.mxf"
    breaker, resumer, completes = FTPLIB_ROWS[row]
    breaker(pool, path, data[:cut])
    wait_until(lambda: _released(pool, path), "the interrupted upload to be released")
    # An error never completes a file; a clean end does, and is continued below at its size.
    assert _short_assets(pool, path) == ([cut] if completes else [])
    resumer(pool, path, data)
    _check_one_full_version(pool, path, data)


# --- real clients killed, then resumed --------------------------------------------------------

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
SQLITE_ONLY = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


def _kill_after(proc: subprocess.Popen[bytes], path: str, count: int) -> None:
    try:
        wait_received(path, count)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def _feed_and_kill(argv: list[str], path: str, data: bytes, env: dict[str, str]) -> None:
    """Run a client reading the file from a pipe; kill -9 it once the server has `data`."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    assert proc.stdin is not None
    proc.stdin.write(data)
    proc.stdin.flush()
    _kill_after(proc, path, len(data))
    with contextlib.suppress(OSError):
        proc.stdin.close()


@needs_curl
@SQLITE_ONLY
@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_curl_killed_then_curl_continue(pool: Pool, tmp_path: Path, cut: int) -> None:
    data = _payload(f"curl-{cut}")
    source = tmp_path / "curl.mxf"
    source.write_bytes(data)
    url = f"{pool.ftp.url}/incoming/curl.mxf"
    user = f"{pool.account.username}:{pool.account.password}"
    _feed_and_kill(["curl", "-sS", "--user", user, "-T", "-", url], "/incoming/curl.mxf",
                   data[:cut], dict(os.environ))  # fmt: skip
    wait_until(lambda: _released(pool, "/incoming/curl.mxf"), "the interrupted upload")
    subprocess.run(
        ["curl", "-sS", "--max-time", "120", "--user", user, "-C", "-", "-T", str(source), url],
        check=True,
        capture_output=True,
        timeout=180,
    )
    _check_one_full_version(pool, "/incoming/curl.mxf", data)


def _lftp_script(pool: Pool, commands: str) -> str:
    return (
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no; "
        "set net:max-retries 1; set net:timeout 30; "
        f"open -u {pool.account.username},{pool.account.password} -p {pool.ftp.port} "
        f"{pool.ftp.host}; {commands}; quit"
    )


@requires_lftp
@SQLITE_ONLY
@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_lftp_killed_then_put_continue(pool: Pool, tmp_path: Path, cut: int) -> None:
    data = _payload(f"lftp-{cut}")
    source = tmp_path / "lftp.mxf"
    source.write_bytes(data)
    env = {**os.environ, "HOME": str(tmp_path)}
    # Slowed down so it is still sending when killed; where it is cut is then approximate.
    # The rest after the latest cut must take longer than the kill on a loaded machine: had
    # lftp sent everything, `put -c` would find the sizes equal and send nothing more.
    script = _lftp_script(pool, f"set net:limit-rate 2M; cd /incoming; put {source} -o lftp.mxf")
    killed = subprocess.Popen(
        ["lftp", "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    _kill_after(killed, "/incoming/lftp.mxf", cut)
    wait_until(lambda: _released(pool, "/incoming/lftp.mxf"), "the interrupted upload")
    result = subprocess.run(
        ["lftp", "-c", _lftp_script(pool, f"cd /incoming; put -c {source} -o lftp.mxf")],
        capture_output=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr.decode()
    _check_one_full_version(pool, "/incoming/lftp.mxf", data)


@requires_rclone
@SQLITE_ONLY
@pytest.mark.parametrize("cut", CUTS.values(), ids=CUTS.keys())
def test_rclone_killed_then_copy_again(pool: Pool, tmp_path: Path, cut: int) -> None:
    data = _payload(f"rclone-{cut}")
    source_dir = tmp_path / "src"
    source_dir.mkdir()
    (source_dir / "rclone.mxf").write_bytes(data)
    config = write_rclone_config(
        tmp_path / "rclone",
        host=pool.ftp.host,
        port=pool.ftp.port,
        user=pool.account.username,
        password=pool.account.password,
    )
    env = rclone_env(config)
    # Slowed down so it is still sending when killed; where it is cut is then approximate.
    killed = subprocess.Popen(
        rclone_command(config, "copy", "--bwlimit", "4M", str(source_dir), "pool:/incoming"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _kill_after(killed, "/incoming/rclone.mxf", cut)
    wait_until(lambda: _released(pool, "/incoming/rclone.mxf"), "the interrupted upload")
    result = subprocess.run(
        rclone_command(config, "copy", str(source_dir), "pool:/incoming"),
        capture_output=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr.decode()
    _check_one_full_version(pool, "/incoming/rclone.mxf", data)


# --- visibility: the API and `jointpool maintenance` ------------------------------------------


def test_pending_and_settling_uploads_are_visible(pool: Pool) -> None:
    data = _payload("visible")
    _break_with_reset(pool, "/incoming/half.mxf", data[: PART + MIB])
    wait_until(lambda: _released(pool, "/incoming/half.mxf"), "the interrupted upload")
    _break_with_fin_unread_226(pool, "/incoming/short.mxf", data[:MIB])
    with pool.db.write_session() as session:
        other = create_user(
            session,
            org=create_organization(session, code="tmtv", name="TM TV", country="TM"),
            username="tmtv-editor",
            role="editor",
        ).api_token
    url = f"{pool.api.base_url}/v1/uploads"
    response = httpx.get(url, headers=bearer(pool.api_token), timeout=30)
    assert response.status_code == 200, response.text
    items = {i["path"]: i for i in response.json()["items"]}
    assert set(items) == {"/incoming/half.mxf", "/incoming/short.mxf"}
    half, short = items["/incoming/half.mxf"], items["/incoming/short.mxf"]
    # The reset lost at most what was in flight; everything stored is counted.
    assert half["state"] == "pending" and 0 < half["size"] <= PART + MIB
    assert not half["active"] and half["age_seconds"] >= 0
    assert short["state"] == "settling" and short["size"] == MIB and short["settles_at"]
    # Only the uploader's organization sees them.
    assert httpx.get(url, headers=bearer(other), timeout=30).json()["items"] == []
    report = describe_unfinished(pool.db)
    assert report.startswith("2 upload(s) pending or settling")
    assert f"pending {pool.account.org_id}:/incoming/half.mxf {half['size']} bytes" in report
    assert f"settling {pool.account.org_id}:/incoming/short.mxf {MIB} bytes" in report


# --- declared size and hash -------------------------------------------------------------------


def _asset_state(pool: Pool, path: str) -> list[tuple[int, str, str | None]]:
    with pool.db.session() as session:
        rows = session.scalars(
            select(Asset).where(Asset.org_id == pool.account.org_id, Asset.source_path == path)
        )
        return [(a.size, a.status.value, a.failure_reason) for a in rows]


def _put(pool: Pool, path: str, content: bytes) -> None:
    client = connect_plain(pool.ftp, pool.account)
    try:
        assert client.storbinary(f"STOR {path}", io.BytesIO(content)).startswith("226")
    finally:
        client.quit()


def test_a_master_shorter_than_its_sidecar_declares_fails_until_continued(pool: Pool) -> None:
    data = _payload("declared")
    sidecar = (
        '{"kind": "documentary", "original_title": "Steppe", '
        f'"size": {len(data)}, "sha256": "{hashlib.sha256(data).hexdigest()}"}}'
    )
    _put(pool, "/incoming/steppe.mxf.json", sidecar.encode())
    cut = PART + MIB
    _break_with_fin_unread_226(pool, "/incoming/steppe.mxf", data[:cut])
    assert _asset_state(pool, "/incoming/steppe.mxf") == [
        (cut, "failed", f"incomplete: got {cut} of {len(data)} bytes")
    ]
    _resume_appe(pool, "/incoming/steppe.mxf", data)
    # The continuation replaced the short version; the whole file matches the declaration.
    assert _asset_state(pool, "/incoming/steppe.mxf") == [(len(data), "received", None)]


@pytest.mark.parametrize("declaration", ["sidecar-sha256", "md5-file"])
def test_a_master_with_another_checksum_than_declared_fails(pool: Pool, declaration: str) -> None:
    data = _payload("checksum")
    other = _payload("something else")
    if declaration == "sidecar-sha256":
        sidecar = (
            '{"kind": "film", "original_title": "Dala", '
            f'"size": {len(data)}, "sha256": "{hashlib.sha256(other).hexdigest()}"}}'
        )
        _put(pool, "/incoming/dala.json", sidecar.encode())
    else:
        _put(pool, "/incoming/dala.md5", f"{hashlib.md5(other).hexdigest()}  dala.mxf\n".encode())
    _put(pool, "/incoming/dala.mxf", data)
    [(size, status, reason)] = _asset_state(pool, "/incoming/dala.mxf")
    assert (size, status) == (len(data), "failed")
    assert reason is not None and reason.startswith("checksum mismatch")

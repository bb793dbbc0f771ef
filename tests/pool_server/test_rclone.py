# ruff: noqa: RUF001 - Azerbaijani and Turkish names use the dotless i on purpose.
"""rclone (ftp backend, explicit TLS) as a client: copy, check, sync with deletes, lsjson."""

from __future__ import annotations

import ftplib
import io
import json
import os
from pathlib import Path

import pytest

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_tls,
    ftp_test_settings,
    start_ftp_server,
)
from tests.fixtures.rclone import requires_rclone, run_rclone, write_rclone_config
from tests.pool_server.test_listing import licensed_world

pytestmark = requires_rclone

# Nested folders that do not exist yet, names in the scripts of the pool's members.
TARGET = "incoming/new/Dədə Qorqud/Сезон 1"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _server_tree(client: ftplib.FTP, folder: str) -> dict[str, bytes]:
    """Every file below a folder with its bytes, read back with ftplib."""
    found: dict[str, bytes] = {}
    for name, facts in client.mlsd(folder):
        path = f"{folder}/{name}"
        if facts["type"] == "dir":
            for sub, data in _server_tree(client, path).items():
                found[f"{name}/{sub}"] = data
        else:
            out = io.BytesIO()
            client.retrbinary(f"RETR {path}", out.write)
            found[name] = out.getvalue()
    return found


def _ok(result: object) -> None:
    returncode = getattr(result, "returncode", None)
    assert returncode == 0, getattr(result, "stderr", "")


def test_rclone_copy_check_and_sync_with_deletes_in_incoming(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], tmp_path: Path
) -> None:
    account = ftp_accounts["aztv"]
    config = write_rclone_config(
        tmp_path / "rclone",
        host=ftp_server.host,
        port=ftp_server.port,
        user=account.username,
        password=account.password,
    )
    source = tmp_path / "source"
    _write(
        source,
        {
            "ep 01.mxf": os.urandom(300_000),
            "Bamsı Beyrək/ep02.mov": os.urandom(40_000),
            "Bamsı Beyrək/extras/poster.jpg": os.urandom(5_000),
            "Кыз Жибек/notes.txt": "Қыз Жібек, ə ı".encode(),
        },
    )
    _ok(run_rclone(config, "copy", str(source), f"pool:{TARGET}"))
    client = connect_tls(ftp_server, account)
    try:
        assert _server_tree(client, "/" + TARGET) == _tree(source)
        _ok(run_rclone(config, "check", str(source), f"pool:{TARGET}"))

        # A removed local file is deleted on the server, a new one uploaded, a changed one
        # replaced.
        (source / "Bamsı Beyrək/extras/poster.jpg").unlink()
        _write(source, {"ep 03.mxf": os.urandom(20_000), "Кыз Жибек/notes.txt": b"v2, longer"})
        _ok(run_rclone(config, "sync", str(source), f"pool:{TARGET}"))
        assert _server_tree(client, "/" + TARGET) == _tree(source)
        _ok(run_rclone(config, "check", str(source), f"pool:{TARGET}"))
        # rclone check must be able to fail here, or it proves nothing above.
        (source / "ep 03.mxf").write_bytes(b"different size")
        assert run_rclone(config, "check", str(source), f"pool:{TARGET}").returncode != 0
    finally:
        client.close()


def test_rclone_lists_and_copies_licensed(
    database: Database, storage: S3Storage, storage_settings: Settings, tmp_path: Path
) -> None:
    login = licensed_world(database, storage)
    with start_ftp_server(ftp_test_settings(storage_settings), database, storage) as server:
        config = write_rclone_config(
            tmp_path / "rclone",
            host=server.host,
            port=server.port,
            user=login.username,
            password=login.password,
        )
        listed = run_rclone(config, "lsjson", "-R", "pool:licensed")
        _ok(listed)
        client = connect_tls(server, login)
        try:
            expected = _server_tree(client, "/licensed")
        finally:
            client.close()
        target = tmp_path / "mirror"
        _ok(run_rclone(config, "copy", "pool:licensed", str(target)))
    entries = json.loads(listed.stdout)
    files = {e["Path"]: e["Size"] for e in entries if not e["IsDir"]}
    assert files == {path: len(data) for path, data in expected.items()}
    assert len(files) == 3
    folders = {e["Path"] for e in entries if e["IsDir"]}
    # Every folder on the way to a file is listed as a folder, and nothing else is.
    assert folders == {
        "/".join(path.split("/")[:depth])
        for path in files
        for depth in range(1, path.count("/") + 1)
    }
    assert any("Dədə Qorqud" in path for path in files)
    assert _tree(target) == expected


@pytest.mark.parametrize("disable_tls13", [False, True], ids=["tls13", "disable_tls13"])
def test_rclone_uploads_a_multi_mib_file_intact(
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    tmp_path: Path,
    disable_tls13: bool,
) -> None:
    # With the server's default TLS 1.3 tickets on data connections this arrived cut short
    # (4,583,424 of 6,303,801 bytes) and rclone reported "corrupted on transfer".
    account = ftp_accounts["aztv"]
    config = write_rclone_config(
        tmp_path / "rclone",
        host=ftp_server.host,
        port=ftp_server.port,
        user=account.username,
        password=account.password,
        disable_tls13=disable_tls13,
    )
    source = tmp_path / "source"
    files = {"master.mxf": os.urandom(6 * 1024 * 1024 + 12_345), "small.txt": b"x" * 3_000}
    _write(source, files)
    _ok(run_rclone(config, "copy", str(source), "pool:incoming/tls"))
    client = connect_tls(ftp_server, account)
    try:
        assert _server_tree(client, "/incoming/tls") == files
        assert client.sendcmd("SIZE /incoming/tls/master.mxf") == f"213 {len(files['master.mxf'])}"
    finally:
        client.close()

"""Quota counts every stored byte: STOR + DELE (or overwriting) cannot grow storage forever.

A deleted or replaced master stays for `deleted_retention_days` (catalog history, licensees)
and counts against the quota until the nightly maintenance purges its bytes.
"""

from __future__ import annotations

import ftplib
import io
import os
import socket
import struct

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset, Organization, PendingUpload
from pool_core.services.nightly import run_nightly
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import FtpLogin, RunningFTP, connect_plain, live_upload_size, wait_until

MIB = 1 << 20


def _released_size(database: Database, org_id: int, path: str) -> int | None:
    """The committed size of an interrupted upload no writer holds any more (None: none)."""
    if live_upload_size(path) is not None:
        return None
    with database.session() as session:
        row = session.scalar(
            select(PendingUpload).where(PendingUpload.org_id == org_id, PendingUpload.path == path)
        )
        return row.committed_size if row is not None and row.holder is None else None


def store_or_refusal(client: ftplib.FTP, path: str, data: bytes) -> str | None:
    """STOR `data`; None when stored, else the server's 5xx reply.

    Refused mid-stream, the server closes the data connection: the client may see a reset
    while sending, before it reads the refusal on the control connection.
    """
    client.voidcmd("TYPE I")
    try:
        conn = client.transfercmd(f"STOR {path}")
    except ftplib.error_perm as exc:
        return str(exc)
    try:
        conn.sendall(data)
    except OSError:
        pass  # reset by the server's refusal; its reply follows on the control connection
    finally:
        conn.close()
    try:
        client.voidresp()
    except ftplib.error_perm as exc:
        return str(exc)
    return None


def assert_store_refused_for_quota(client: ftplib.FTP, path: str, data: bytes) -> None:
    """A STOR the quota refuses answers 552, whether before or while the bytes flow."""
    refused = store_or_refusal(client, path, data)
    assert refused is not None and refused.startswith("552") and "quota" in refused, refused


def _set_quota(database: Database, org_id: int, quota: int) -> None:
    with database.session() as session:
        org = session.scalar(select(Organization).where(Organization.id == org_id))
        assert org is not None
        org.quota_bytes = quota


@pytest.mark.parametrize("how", ["delete", "overwrite"])
def test_deleting_or_overwriting_masters_cannot_grow_storage_past_the_quota(
    how: str,
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
    storage: S3Storage,
) -> None:
    account = ftp_accounts["trt"]
    _set_quota(database, account.org_id, 3 * MIB + MIB // 2)
    client = connect_plain(ftp_server, account)
    try:
        for _ in range(3):
            client.storbinary("STOR /incoming/loop.mxf", io.BytesIO(os.urandom(MIB)))
            if how == "delete":
                client.delete("/incoming/loop.mxf")
        # Three masters are kept (one maybe still shown): a fourth does not fit.
        assert_store_refused_for_quota(client, "/incoming/loop.mxf", os.urandom(MIB))
        with database.session() as session:
            kept = session.scalars(select(Asset).where(Asset.org_id == account.org_id)).all()
        assert len(kept) == 3
        retired = [a for a in kept if a.retired_at is not None]
        assert len(retired) == (3 if how == "delete" else 2)
        assert all(storage.exists(a.object_key) for a in kept)

        # The nightly maintenance purges them once the retention period has passed.
        settings = ftp_server.settings.model_copy(update={"deleted_retention_days": 0})
        report = run_nightly(database, storage, settings)
        assert not report.errors, report
        assert any("purged" in s and f"purged {len(retired)} " in s for s in report.sections)
        for asset in retired:
            assert not storage.exists(asset.object_key)
        with database.session() as session:
            purged = session.scalars(
                select(Asset).where(Asset.org_id == account.org_id, Asset.purged_at.is_not(None))
            ).all()
        assert {a.id for a in purged} == {a.id for a in retired}
        # The room is back.
        client.storbinary("STOR /incoming/again.mxf", io.BytesIO(os.urandom(MIB)))
    finally:
        client.quit()


def test_a_kept_master_is_not_purged_before_its_retention_period(
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
    storage: S3Storage,
) -> None:
    account = ftp_accounts["aztv"]
    client = connect_plain(ftp_server, account)
    try:
        client.storbinary("STOR /incoming/keep.mxf", io.BytesIO(b"a master"))
        client.delete("/incoming/keep.mxf")
    finally:
        client.quit()
    report = run_nightly(database, storage, ftp_server.settings)  # default: 30 days
    assert any("purged 0 " in s for s in report.sections), report
    with database.session() as session:
        asset = session.scalar(select(Asset).where(Asset.org_id == account.org_id))
    assert asset is not None and asset.retired_at is not None and asset.purged_at is None
    assert storage.exists(asset.object_key)


@pytest.mark.parametrize("how", ["delete", "overwrite"])
def test_deleting_or_overwriting_plain_files_cannot_grow_storage_past_the_quota(
    how: str,
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
    storage: S3Storage,
) -> None:
    # Attack: a plain file (not a master) is stored and deleted, or overwritten, in a loop.
    # Its bytes stay in storage until the nightly sweep, so they must count until then
    # (before the fix, the loop never met the quota and storage grew without limit).
    account = ftp_accounts["trt"]
    _set_quota(database, account.org_id, 3 * MIB + MIB // 2)
    client = connect_plain(ftp_server, account)
    refused = None
    try:
        for _ in range(8):
            refused = store_or_refusal(client, "/incoming/loop.bin", os.urandom(MIB))
            if refused is not None:
                break
            if how == "delete":
                client.delete("/incoming/loop.bin")
        assert refused is not None and refused.startswith("552"), refused
        assert "quota" in refused
        assert len(list(storage.list("files/"))) <= 4
    finally:
        client.quit()

    # Once the nightly maintenance has deleted the released bytes, the room is back.
    settings = ftp_server.settings.model_copy(update={"maintenance_orphan_grace_hours": 0})
    report = run_nightly(database, storage, settings)
    assert not report.errors, report
    assert len(list(storage.list("files/"))) == (0 if how == "delete" else 1)
    client = connect_plain(ftp_server, account)
    try:
        client.storbinary("STOR /incoming/again.bin", io.BytesIO(os.urandom(MIB)))
        client.storbinary("STOR /incoming/again2.bin", io.BytesIO(os.urandom(MIB)))
    finally:
        client.quit()


def test_deleting_interrupted_uploads_cannot_grow_storage_past_the_quota(
    ftp_server: RunningFTP,
    ftp_accounts: dict[str, FtpLogin],
    database: Database,
) -> None:
    # An interrupted upload keeps its received bytes in storage (resumable); DELE of it drops
    # the pending upload at once, but its bytes stay until maintenance frees them, so they
    # must stay in the quota: a reset + DELE loop is refused like a STOR + DELE loop.
    account = ftp_accounts["trt"]
    _set_quota(database, account.org_id, 3 * MIB + MIB // 2)
    for round_ in range(3):
        path = f"/incoming/cut{round_}.bin"
        cut = connect_plain(ftp_server, account)
        cut.voidcmd("TYPE I")
        conn = cut.transfercmd(f"STOR {path}")
        conn.sendall(os.urandom(MIB))
        wait_until(lambda p=path: live_upload_size(p) == MIB, "the server to take the bytes")
        # SO_LINGER 0: close() sends RST, as a dropped link does; the client goes too.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        cut.close()
        wait_until(
            lambda p=path: _released_size(database, account.org_id, p) == MIB,
            "the interrupted upload to be kept, released",
        )
        client = connect_plain(ftp_server, account)
        try:
            assert client.size(path) == MIB  # interrupted, resumable: its bytes are stored
            client.delete(path)
        finally:
            client.quit()
    client = connect_plain(ftp_server, account)
    try:
        assert_store_refused_for_quota(client, "/incoming/one-more.bin", os.urandom(MIB))
    finally:
        client.quit()

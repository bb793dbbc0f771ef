"""S3 unreachable mid-upload: a transient 4xx, nothing half-visible, resumable once S3 is back."""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import PendingUpload
from pool_core.seaweed import EmbeddedSeaweed
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import FtpLogin, connect_plain, ftp_test_settings, start_ftp_server
from tests.fixtures.storage import settings_for, start_seaweed

MIB = 1 << 20


@pytest.fixture
def private_seaweed(tmp_path: Path) -> Iterator[EmbeddedSeaweed]:
    """A SeaweedFS of this test alone: it is stopped and started again mid-test."""
    instance = start_seaweed(tmp_path / "seaweed")
    yield instance
    instance.stop()


def _committed(db: Database, org_id: int) -> int:
    with db.session() as session:
        row = session.scalar(
            select(PendingUpload).where(
                PendingUpload.org_id == org_id, PendingUpload.path == "/incoming/outage.mxf"
            )
        )
        return row.committed_size if row is not None else 0


def test_storage_outage_mid_upload_is_transient_and_resumable(
    private_seaweed: EmbeddedSeaweed,
    database: Database,
    ftp_accounts: dict[str, FtpLogin],
    tmp_path: Path,
) -> None:
    storage = S3Storage(
        endpoint=private_seaweed.endpoint,
        access_key=private_seaweed.access_key,
        secret_key=private_seaweed.secret_key,
        bucket=private_seaweed.bucket,
        max_attempts=2,
        connect_timeout=2,
    )
    storage.ensure_bucket()
    settings = ftp_test_settings(
        settings_for(private_seaweed, data_dir=tmp_path, bucket=storage.bucket)
    )
    account = ftp_accounts["aztv"]
    data = hashlib.shake_256(b"outage").digest(40 * MIB + 17)
    with start_ftp_server(settings, database, storage) as server:
        client = connect_plain(server, account)
        try:
            client.voidcmd("TYPE I")
            conn = client.transfercmd("STOR /incoming/outage.mxf")
            conn.sendall(data[: 20 * MIB])
            deadline = time.monotonic() + 60
            while _committed(database, account.org_id) == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _committed(database, account.org_id) > 0
            private_seaweed.stop()
            with contextlib.suppress(OSError):
                # Keep sending until the server notices the outage and drops the transfer.
                deadline = time.monotonic() + 120
                offset = 20 * MIB
                while offset < len(data) and time.monotonic() < deadline:
                    conn.sendall(data[offset : offset + MIB])
                    offset += MIB
            conn.close()
            with pytest.raises(ftplib.error_temp, match=r"^451 "):
                client.voidresp()
            # Nothing half-done is visible as a file.
            facts = dict(client.mlsd("/incoming"))
            assert "outage.mxf" not in facts or facts["outage.mxf"]["size"] != str(len(data))
        finally:
            with contextlib.suppress(OSError, EOFError, ftplib.Error):
                client.quit()
        private_seaweed.start()
        private_seaweed.wait_ready(timeout=60)
        client = connect_plain(server, account)
        try:
            committed = client.size("/incoming/outage.mxf")
            assert committed is not None and committed < len(data)
            client.storbinary(
                "STOR /incoming/outage.mxf", io.BytesIO(data[committed:]), rest=committed
            )
            out = io.BytesIO()
            client.retrbinary("RETR /incoming/outage.mxf", out.write)
            assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(data).digest()
        finally:
            client.quit()

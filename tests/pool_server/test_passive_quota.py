"""Passive mode (range, masquerade, EPSV) and the organization byte quota."""

from __future__ import annotations

import ftplib
import io
import re

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Organization
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_plain,
    ftp_test_settings,
    start_ftp_server,
)


def test_passive_ports_masquerade_and_epsv(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_accounts: dict[str, FtpLogin],
) -> None:
    settings = ftp_test_settings(storage_settings, ftp_masquerade_address="127.0.0.3")
    ports = settings.passive_port_range
    with start_ftp_server(settings, database, storage) as server:
        client = connect_plain(server, ftp_accounts["aztv"])
        try:
            pasv = client.sendcmd("PASV")
            found = re.search(r"\(([\d,]+)\)", pasv)
            assert found is not None
            numbers = [int(n) for n in found.group(1).split(",")]
            assert numbers[:4] == [127, 0, 0, 3]
            assert numbers[4] * 256 + numbers[5] in ports
            epsv = client.sendcmd("EPSV")
            port = int(re.search(r"\(\|\|\|(\d+)\|\)", epsv).group(1))  # type: ignore[union-attr]
            assert epsv.startswith("229") and port in ports
            # A transfer over EPSV works end to end (the masquerade only changes PASV text).
            client.sendcmd("ABOR")
            client.af = 10  # make ftplib use EPSV, as IPv6-capable clients do
            client.storbinary("STOR /incoming/e.bin", io.BytesIO(b"epsv"))
            assert client.size("/incoming/e.bin") == 4
        finally:
            client.quit()


def test_quota_exceeded_is_552_and_nothing_is_visible(
    ftp_server: RunningFTP, ftp_accounts: dict[str, FtpLogin], database: Database
) -> None:
    account = ftp_accounts["trt"]
    with database.session() as session:
        org = session.scalar(select(Organization).where(Organization.id == account.org_id))
        assert org is not None
        org.quota_bytes = 3 << 20
    client = connect_plain(ftp_server, account)
    try:
        client.storbinary("STOR /incoming/small.bin", io.BytesIO(b"s" * (1 << 20)))
        client.voidcmd("TYPE I")
        conn = client.transfercmd("STOR /incoming/big.bin")
        try:
            conn.sendall(b"b" * (12 << 20))
        except OSError:
            pass  # the server may close the data connection before we are done sending
        finally:
            conn.close()
        with pytest.raises(ftplib.error_perm, match=r"^552 .*quota"):
            client.getresp()
        assert client.nlst("/incoming") == ["small.bin"]
    finally:
        client.quit()

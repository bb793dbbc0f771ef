"""Licensed masters over real FTP: listed under /licensed, read-only, logged, revocable."""

from __future__ import annotations

import ftplib
import io
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.files import tree
from pool_core.licensing import workflow
from pool_core.models import Asset
from pool_core.models.licensing import Delivery
from pool_core.names import check_portable_name
from pool_core.services import accounts
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import FtpLogin, ftp_test_settings, run_lftp, start_ftp_server
from tests.pool_core.test_licensing import build_world, grant, open_window

FOLDER = "/licensed/aztv/Qaraqum _ Desert/S01E02"
EPISODE = f"{FOLDER}/ep2.mxf"


def _retrieve(client: ftplib.FTP, path: str, rest: int | None = None) -> bytes:
    out = io.BytesIO()
    client.retrbinary(f"RETR {path}", out.write, rest=rest)
    return out.getvalue()


def test_licensed_master_is_listed_resumable_logged_read_only_and_revocable(
    database: Database, storage: S3Storage, storage_settings: Settings, tmp_path: Path
) -> None:
    data = os.urandom(3 * (1 << 20) + 77)
    with database.session() as session:
        w = build_world(session)
        tree.ensure_roots(session, org_id=w.buyer.id)
        open_window(session, w)
        license_id = grant(session, w, w.buyer_editor).id
        # The masters' real bytes, stored where the assets say they are.
        first = session.get(Asset, w.assets[0].id)
        assert first is not None and first.object_key is not None
        storage.put(first.object_key, b"episode one")
        asset = session.get(Asset, w.assets[1].id)
        assert asset is not None and asset.object_key is not None
        storage.put(asset.object_key, data)
        asset.size = len(data)
        password = accounts.set_ftp_password(session, user=w.buyer_editor)
        login = FtpLogin(w.buyer.id, w.buyer_editor.id, w.buyer_editor.username, password)
        owner_rm_name, asset_id = w.owner_rm.username, asset.id

    settings = ftp_test_settings(storage_settings)
    with start_ftp_server(settings, database, storage) as server:
        client = ftplib.FTP(timeout=30)
        client.connect(server.host, server.port)
        client.login(login.username, login.password)
        try:
            listed = dict(client.mlsd(FOLDER))
            assert int(listed["ep2.mxf"]["size"]) == len(data)
            assert _retrieve(client, EPISODE) == data
            # REST resume: the rest of the bytes, byte-identical.
            assert _retrieve(client, EPISODE, rest=1_000_000) == data[1_000_000:]
            with pytest.raises(ftplib.error_perm, match=r"^550"):
                client.storbinary(f"STOR {FOLDER}/new.mxf", io.BytesIO(b"x"))
            with pytest.raises(ftplib.error_perm, match=r"^550"):
                client.delete(EPISODE)

            if shutil.which("lftp") is not None:
                run_lftp(server, login, f"mirror /licensed {tmp_path / 'mirror'}", home=tmp_path)
                mirrored = tmp_path / "mirror" / EPISODE.removeprefix("/licensed/")
                assert mirrored.read_bytes() == data

            with database.session() as session:
                deliveries = session.scalars(
                    select(Delivery).where(Delivery.license_id == license_id)
                ).all()
                offsets = sorted(d.offset for d in deliveries if d.asset_id == asset_id)
                assert offsets[0] == 0 and 1_000_000 in offsets
                assert all(d.channel == "ftp" for d in deliveries)
                assert all(d.user_id == login.user_id for d in deliveries)

            with database.session() as session:
                owner_rm = accounts.get_user_by_username(session, username=owner_rm_name)
                workflow.revoke_license(
                    session, license_id=license_id, actor=Actor.for_user(owner_rm)
                )
            with pytest.raises(ftplib.error_perm, match=r"^550"):
                _retrieve(client, EPISODE)
        finally:
            client.close()


@pytest.mark.parametrize(
    ("title", "folder"),
    [("C:evil", "C\uff1aevil"), ("CON", "CON_"), ("What? Who*", "What\uff1f Who\uff0a")],
)
def test_licensed_folders_are_portable_names(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    title: str,
    folder: str,
) -> None:
    # Attack: the owner names a title `C:evil` (or CON, or with `?` and `*`). A licensee that
    # mirrors /licensed with lftp or rclone onto a Windows share writes that name as the
    # pool serves it: drive-relative, a device, or not at all. The pool serves the title's
    # folder under a portable name (the sync's mapping), and the master stays readable there.
    with database.session() as session:
        w = build_world(session)
        tree.ensure_roots(session, org_id=w.buyer.id)
        w.title.original_title = title
        open_window(session, w)
        grant(session, w, w.buyer_editor)
        for asset in w.assets:
            storage.put(asset.object_key, asset.filename.encode())
            asset.size = len(asset.filename)
        password = accounts.set_ftp_password(session, user=w.buyer_editor)
        login = FtpLogin(w.buyer.id, w.buyer_editor.id, w.buyer_editor.username, password)

    settings = ftp_test_settings(storage_settings)
    with start_ftp_server(settings, database, storage) as server:
        client = ftplib.FTP(timeout=30)
        client.connect(server.host, server.port)
        client.login(login.username, login.password)
        try:
            names = client.nlst("/licensed/aztv")
            assert names == [folder], names
            for name in names:
                check_portable_name(name)
            assert _retrieve(client, f"/licensed/aztv/{folder}/S01E02/ep2.mxf") == b"ep2.mxf"
        finally:
            client.close()

"""A complete multi-part master continued on another FTP node gets whole-file checksums.

Node B has none of node A's in-memory hash state (the cache is cleared, as in another
process), so `finish()` re-reads the continued object from S3 once: SHA-256 and MD5 must
still describe the whole file, and HASH / XSHA256 / XMD5 on either node answer for it.
"""

from __future__ import annotations

import hashlib
import io

from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.hashes import HASH_CACHE
from tests.fixtures.ftp import connect_plain, ftp_test_settings, make_account, start_ftp_server

MIB = 1 << 20
PART = 5 * MIB


def test_continuation_on_another_node_hashes_the_whole_multipart_file(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    account = make_account(database, "kazsport", country="KZ")
    settings = ftp_test_settings(storage_settings, upload_part_size=PART, upload_settle_seconds=600)
    data = hashlib.shake_256(b"another node").digest(3 * PART + 7 * MIB // 2 + 11)
    cut = 2 * PART + 777  # two parts and a tail: two UploadPartCopy parts on node B
    path = "/incoming/elsewhere.mxf"
    sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    with start_ftp_server(settings, database, storage) as node_a:
        client = connect_plain(node_a, account)
        assert client.storbinary(f"STOR {path}", io.BytesIO(data[:cut])).startswith("226")
        client.quit()
        HASH_CACHE.clear()  # node B shares nothing in memory with node A
        with start_ftp_server(ftp_test_settings(settings), database, storage) as node_b:
            client = connect_plain(node_b, account)
            assert client.size(path) == cut
            # The continuation itself spans more than one part (5.5 MiB + the 777-byte tail).
            assert client.storbinary(f"APPE {path}", io.BytesIO(data[cut:])).startswith("226")
            assert client.sendcmd(f"HASH {path}") == f"213 SHA-256 0-{len(data)} {sha} {path}"
            assert client.sendcmd(f"XSHA256 {path}") == f"250 {sha.upper()}"
            assert client.sendcmd(f"XMD5 {path}")[4:].lower() == md5
            client.quit()
        client = connect_plain(node_a, account)
        assert client.sendcmd(f"XSHA256 {path}") == f"250 {sha.upper()}"
        out = io.BytesIO()
        client.retrbinary(f"RETR {path}", out.write)
        client.quit()
    assert out.getvalue() == data
    with database.session() as session:
        assets = session.scalars(select(Asset).where(Asset.source_path == path)).all()
        assert [(a.size, a.sha256, a.md5, a.version) for a in assets] == [(len(data), sha, md5, 1)]

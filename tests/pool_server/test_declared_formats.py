"""Declared size and hashes from EBUCore XML and CSV manifests enforced on FTP uploads (issue 12).

JSON sidecars and `.md5` files are covered in test_interrupted_uploads.py. Here each format
declares the master's size and SHA-256 or MD5 the way real exports write them; a master that
is shorter, or has another checksum, is `failed` with the reason and never `ready`.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import Asset
from pool_core.settings import Settings
from pool_core.sidecars import parse_sidecar
from pool_core.storage.s3 import S3Storage
from tests.fixtures.ftp import (
    FtpLogin,
    RunningFTP,
    connect_tls,
    ftp_test_settings,
    make_account,
    start_ftp_server,
)

DATA = hashlib.shake_256(b"declared master").digest(300_000)
OTHER = hashlib.shake_256(b"another master").digest(300_000)


def ebucore(size: int, algorithm: str, digest: str) -> bytes:
    """An EBUCore 1.10 document as a MAM exports it, declaring the master's size and hash."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ebucore:ebuCoreMain xmlns:ebucore="urn:ebu:metadata-schema:ebucore"
    xmlns:dc="http://purl.org/dc/elements/1.1/" version="1.10">
  <ebucore:coreMetadata>
    <ebucore:title typeLabel="original"><dc:title xml:lang="kk">Дала</dc:title></ebucore:title>
    <ebucore:type><ebucore:objectType typeLabel="Documentary"/></ebucore:type>
    <ebucore:format>
      <ebucore:containerFormat containerFormatName="MXF"/>
      <ebucore:fileSize>{size}</ebucore:fileSize>
      <ebucore:fileName>dala.mxf</ebucore:fileName>
      <ebucore:hash>
        <ebucore:hashValue>{digest}</ebucore:hashValue>
        <ebucore:hashFunction typeLabel="{algorithm}"/>
      </ebucore:hash>
    </ebucore:format>
  </ebucore:coreMetadata>
</ebucore:ebuCoreMain>
""".encode()


def manifest(size: int, algorithm: str, digest: str) -> bytes:
    """A ';' manifest as Excel saves it, with the declared size and hash columns."""
    column = {"SHA-256": "sha256", "MD5": "md5"}[algorithm]
    return (
        f"filename;kind;original_title;size;{column}\r\n"
        f"dala.mxf;documentary;Дала;{size};{digest}\r\n"
        "other.mxf;film;Other;1;\r\n"
    ).encode()


FORMATS = {"ebucore": (ebucore, "dala.xml"), "csv": (manifest, "dala.csv")}


def _digest(algorithm: str, data: bytes) -> str:
    return (
        hashlib.sha256(data).hexdigest()
        if algorithm == "SHA-256"
        else hashlib.md5(data).hexdigest()
    )


@pytest.fixture
def ftp(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> Iterator[tuple[RunningFTP, FtpLogin]]:
    """The FTP server and one uploader's login."""
    account = make_account(database, "qazaqstan", country="KZ")
    with start_ftp_server(ftp_test_settings(storage_settings), database, storage) as running:
        yield running, account


def _put(ftp: tuple[RunningFTP, FtpLogin], name: str, content: bytes) -> None:
    client = connect_tls(*ftp)
    try:
        assert client.storbinary(f"STOR /incoming/{name}", io.BytesIO(content)).startswith("226")
    finally:
        client.quit()


def _state(db: Database) -> list[tuple[int, str, str | None]]:
    with db.session() as session:
        rows = session.scalars(select(Asset).where(Asset.source_path == "/incoming/dala.mxf"))
        return [(a.size, a.status.value, a.failure_reason) for a in rows]


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMATS.keys())
@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_each_format_declares_size_and_hash(fmt: str, algorithm: str) -> None:
    build, name = FORMATS[fmt]
    declared = parse_sidecar(
        name, build(123, algorithm, _digest(algorithm, DATA)), master_filename="dala.mxf"
    )
    assert declared.size == 123
    assert (declared.sha256, declared.md5) == (
        (_digest(algorithm, DATA), None)
        if algorithm == "SHA-256"
        else (None, _digest(algorithm, DATA))
    )


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMATS.keys())
def test_a_master_shorter_than_declared_fails(
    database: Database, ftp: tuple[RunningFTP, FtpLogin], fmt: str
) -> None:
    build, name = FORMATS[fmt]
    _put(ftp, name, build(len(DATA), "SHA-256", _digest("SHA-256", DATA)))
    cut = len(DATA) - 1000
    _put(ftp, "dala.mxf", DATA[:cut])
    assert _state(database) == [(cut, "failed", f"incomplete: got {cut} of {len(DATA)} bytes")]


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMATS.keys())
@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_a_master_with_another_checksum_than_declared_fails(
    database: Database, ftp: tuple[RunningFTP, FtpLogin], fmt: str, algorithm: str
) -> None:
    build, name = FORMATS[fmt]
    # The master comes first here: the sidecar that arrives later still fails it.
    _put(ftp, "dala.mxf", DATA)
    _put(ftp, name, build(len(DATA), algorithm, _digest(algorithm, OTHER)))
    [(size, status, reason)] = _state(database)
    assert (size, status) == (len(DATA), "failed")
    assert reason == (
        f"checksum mismatch: {algorithm} is {_digest(algorithm, DATA)}, "
        f"the sidecar declares {_digest(algorithm, OTHER)}"
    )


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMATS.keys())
def test_a_master_as_declared_is_not_failed(
    database: Database, ftp: tuple[RunningFTP, FtpLogin], fmt: str
) -> None:
    build, name = FORMATS[fmt]
    _put(ftp, name, build(len(DATA), "MD5", _digest("MD5", DATA)))
    _put(ftp, "dala.mxf", DATA)
    assert _state(database) == [(len(DATA), "received", None)]

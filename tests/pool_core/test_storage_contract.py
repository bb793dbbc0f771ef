# Cyrillic and Turkish letters in keys and names are the point of some tests, not typos.
# ruff: noqa: RUF001
"""The contract every `ObjectStorage` implementation must pass.

Tests speak only the Protocol, through the `object_storage` fixture, which is parametrized
over implementations (today: S3Storage on the session's real SeaweedFS). Checks that are
about one implementation's wiring (credentials, endpoints) sit at the bottom.
"""

from __future__ import annotations

import io
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from pool_core.errors import ObjectNotFound, StorageAuthError, StorageError, StorageUnavailable
from pool_core.seaweed import EmbeddedSeaweed
from pool_core.storage.base import ObjectStorage
from pool_core.storage.s3 import S3Storage, content_disposition, translate_error
from tests.fixtures.storage import drop_bucket, new_bucket_storage

MIB = 1 << 20
# S3's minimum size for every part but the last.
MIN_PART = 5 * MIB

IMPLEMENTATIONS = ["s3"]


@pytest.fixture(params=IMPLEMENTATIONS)
def object_storage(request: pytest.FixtureRequest) -> ObjectStorage:
    """An empty storage of each implementation, private to the test."""
    if request.param == "s3":
        instance: ObjectStorage = request.getfixturevalue("storage")
        return instance
    raise AssertionError(f"unknown implementation {request.param}")


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET with plain urllib: status, headers, body (error statuses included)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def test_implements_protocol(object_storage: ObjectStorage) -> None:
    assert isinstance(object_storage, ObjectStorage)
    assert object_storage.bucket


def test_put_head_get(object_storage: ObjectStorage) -> None:
    payload = os.urandom(3000)
    info = object_storage.put(
        "masters/org/a1/clip.mxf",
        payload,
        content_type="application/mxf",
        metadata={"sha256": "abc", "org": "trt"},
    )
    assert info.key == "masters/org/a1/clip.mxf"
    assert info.size == 3000
    assert info.etag

    head = object_storage.head("masters/org/a1/clip.mxf")
    assert head.size == 3000
    assert head.etag == info.etag
    assert head.content_type == "application/mxf"
    assert head.metadata == {"sha256": "abc", "org": "trt"}
    assert head.last_modified is not None
    assert object_storage.get("masters/org/a1/clip.mxf") == payload
    assert object_storage.exists("masters/org/a1/clip.mxf")
    assert not object_storage.exists("masters/org/a1/other.mxf")


def test_put_from_file_object(object_storage: ObjectStorage) -> None:
    payload = os.urandom(70_000)
    stream = io.BytesIO(b"skip" + payload)
    stream.seek(4)
    info = object_storage.put("from-stream", stream)
    assert info.size == len(payload)
    assert object_storage.get("from-stream") == payload


def test_put_overwrites(object_storage: ObjectStorage) -> None:
    object_storage.put("k", b"first")
    object_storage.put("k", b"second")
    assert object_storage.get("k") == b"second"


def test_unicode_keys(object_storage: ObjectStorage) -> None:
    key = "masters/тест/Ölçü ünlü şarkı/Қазақ файл (1).mov"
    object_storage.put(key, b"x")
    assert object_storage.get(key) == b"x"
    assert [info.key for info in object_storage.list("masters/тест/")] == [key]


def test_ranged_get(object_storage: ObjectStorage) -> None:
    payload = bytes(range(256)) * 40
    object_storage.put("ranged", payload)
    assert object_storage.get("ranged", start=100, end=199) == payload[100:200]
    assert object_storage.get("ranged", start=10_000) == payload[10_000:]
    assert object_storage.get("ranged", start=0, end=0) == payload[:1]
    assert object_storage.get("ranged", end=9) == payload[:10]
    # Reading from exactly the end is an empty read, not an error (resume at EOF).
    assert object_storage.get("ranged", start=len(payload)) == b""


def test_open_stream(object_storage: ObjectStorage) -> None:
    payload = os.urandom(300_000)
    object_storage.put("streamed", payload)
    chunks = list(object_storage.open_stream("streamed", chunk_size=64 * 1024))
    assert b"".join(chunks) == payload
    assert len(chunks) >= 5
    assert all(len(chunk) <= 64 * 1024 for chunk in chunks)
    tail = b"".join(object_storage.open_stream("streamed", start=123_456))
    assert tail == payload[123_456:]
    assert b"".join(object_storage.open_stream("streamed", start=len(payload))) == b""


def test_open_stream_missing_raises_at_call(object_storage: ObjectStorage) -> None:
    with pytest.raises(ObjectNotFound):
        object_storage.open_stream("nope")


def test_missing_key_is_object_not_found(object_storage: ObjectStorage) -> None:
    with pytest.raises(ObjectNotFound):
        object_storage.get("missing/key")
    with pytest.raises(ObjectNotFound):
        object_storage.get("missing/key", start=5, end=10)
    with pytest.raises(ObjectNotFound):
        object_storage.head("missing/key")


def test_multipart_three_parts(object_storage: ObjectStorage) -> None:
    parts_data = [os.urandom(MIN_PART), os.urandom(MIN_PART), os.urandom(1234)]
    key = "masters/org/big.mxf"
    upload_id = object_storage.create_multipart(key, content_type="application/mxf")
    assert upload_id
    uploaded = [
        object_storage.upload_part(key, upload_id, number, data)
        for number, data in enumerate(parts_data, start=1)
    ]
    assert [part.size for part in uploaded] == [MIN_PART, MIN_PART, 1234]

    listed = object_storage.list_parts(key, upload_id)
    assert [(p.number, p.etag, p.size) for p in listed] == [
        (p.number, p.etag, p.size) for p in uploaded
    ]
    open_uploads = object_storage.list_multipart_uploads("masters/")
    assert [(u.key, u.upload_id) for u in open_uploads] == [(key, upload_id)]
    assert not object_storage.exists(key)

    # Parts given out of order: the implementation orders them.
    info = object_storage.complete_multipart(key, upload_id, reversed(uploaded))
    expected = b"".join(parts_data)
    assert info.size == len(expected)
    assert object_storage.head(key).size == len(expected)
    assert object_storage.get(key) == expected
    assert (
        object_storage.get(key, start=MIN_PART - 10, end=MIN_PART + 9)
        == (expected[MIN_PART - 10 : MIN_PART + 10])
    )
    assert object_storage.list_multipart_uploads("masters/") == []


def test_multipart_abort(object_storage: ObjectStorage) -> None:
    key = "uploads/abandoned.mov"
    upload_id = object_storage.create_multipart(key)
    object_storage.upload_part(key, upload_id, 1, b"x" * 1000)
    other = object_storage.create_multipart("elsewhere/kept.mov")
    assert {u.upload_id for u in object_storage.list_multipart_uploads()} == {upload_id, other}

    object_storage.abort_multipart(key, upload_id)
    assert [u.upload_id for u in object_storage.list_multipart_uploads()] == [other]
    assert object_storage.list_multipart_uploads("uploads/") == []
    assert not object_storage.exists(key)
    with pytest.raises(ObjectNotFound):
        object_storage.list_parts(key, upload_id)
    object_storage.abort_multipart("elsewhere/kept.mov", other)


def test_unknown_upload_is_object_not_found(object_storage: ObjectStorage) -> None:
    with pytest.raises(ObjectNotFound):
        object_storage.list_parts("k", "no-such-upload-id")
    with pytest.raises(ObjectNotFound):
        object_storage.upload_part("k", "no-such-upload-id", 1, b"data")


def test_part_number_out_of_range(object_storage: ObjectStorage) -> None:
    upload_id = object_storage.create_multipart("k")
    with pytest.raises(StorageError):
        object_storage.upload_part("k", upload_id, 0, b"data")
    with pytest.raises(StorageError):
        object_storage.upload_part("k", upload_id, 10001, b"data")
    object_storage.abort_multipart("k", upload_id)


def test_delete_is_idempotent(object_storage: ObjectStorage) -> None:
    object_storage.put("gone", b"bye")
    object_storage.delete("gone")
    assert not object_storage.exists("gone")
    object_storage.delete("gone")
    object_storage.delete("never-existed")


def test_delete_many(object_storage: ObjectStorage) -> None:
    for name in ("a", "b", "c", "keep"):
        object_storage.put(f"d/{name}", name.encode())
    object_storage.delete_many(["d/a", "d/b", "d/c", "d/missing"])
    assert [info.key for info in object_storage.list("d/")] == ["d/keep"]
    object_storage.delete_many([])


def test_list_prefix_and_order(object_storage: ObjectStorage) -> None:
    keys = ["p/b", "p/a", "p/sub/c", "q/a", "pp/x"]
    for key in keys:
        object_storage.put(key, key.encode())
    listed = list(object_storage.list("p/"))
    assert [info.key for info in listed] == ["p/a", "p/b", "p/sub/c"]
    assert [info.size for info in listed] == [3, 3, 7]
    assert all(info.etag for info in listed)
    assert [info.key for info in object_storage.list()] == sorted(keys)
    assert list(object_storage.list("nothing/")) == []


def _put_many(storage: ObjectStorage, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: storage.put(key, b"."), keys))


def test_list_and_delete_many_beyond_one_page(object_storage: ObjectStorage) -> None:
    # 1001 keys cross S3's 1000-key page and DeleteObjects batch limits.
    keys = [f"many/{i:05d}" for i in range(1001)]
    _put_many(object_storage, keys)
    object_storage.put("other/x", b"x")
    assert [info.key for info in object_storage.list("many/")] == keys
    object_storage.delete_many(keys)
    assert list(object_storage.list("many/")) == []
    assert object_storage.exists("other/x")


# --- presigned URLs: fetched with plain HTTP, no SDK ---


def test_presigned_get_whole_and_range(object_storage: ObjectStorage) -> None:
    payload = os.urandom(100_000)
    object_storage.put("share/clip.mp4", payload, content_type="video/mp4")
    url = object_storage.presigned_get("share/clip.mp4")

    status, headers, body = http_get(url)
    assert status == 200
    assert body == payload

    status, headers, body = http_get(url, {"Range": "bytes=1000-1999"})
    assert status == 206
    assert body == payload[1000:2000]
    assert headers["Content-Range"] == f"bytes 1000-1999/{len(payload)}"

    status, _, body = http_get(url, {"Range": "bytes=99990-"})
    assert status == 206
    assert body == payload[99_990:]


def test_presigned_get_download_name(object_storage: ObjectStorage) -> None:
    object_storage.put("share/a1", b"content")
    url = object_storage.presigned_get("share/a1", download_name='Хабар "Türkçe" 2024.mxf')
    status, headers, body = http_get(url)
    assert status == 200
    assert body == b"content"
    disposition = headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%D0%A5%D0%B0%D0%B1%D0%B0%D1%80" in disposition


def _with_query(url: str, change: Callable[[dict[str, str]], None]) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    change(query)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_presigned_get_tampered_is_refused(object_storage: ObjectStorage) -> None:
    object_storage.put("share/secret", b"secret bytes")
    object_storage.put("share/other", b"other bytes")
    url = object_storage.presigned_get("share/secret")

    def flip_signature(query: dict[str, str]) -> None:
        signature = query["X-Amz-Signature"]
        query["X-Amz-Signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]

    def longer_expiry(query: dict[str, str]) -> None:
        query["X-Amz-Expires"] = "604800"

    for tampered in (_with_query(url, flip_signature), _with_query(url, longer_expiry)):
        status, _, body = http_get(tampered)
        assert status == 403
        assert b"secret bytes" not in body

    # The same signature does not open another key.
    status, _, body = http_get(url.replace("share/secret", "share/other"))
    assert status == 403
    assert b"other bytes" not in body


def test_presigned_get_expired_is_refused(object_storage: ObjectStorage) -> None:
    object_storage.put("share/brief", b"brief")
    url = object_storage.presigned_get("share/brief", expires_in=1)
    # Past the one-second lifetime, with a margin for a clock tick.
    time.sleep(2.5)
    status, _, body = http_get(url)
    assert status == 403
    assert body != b"brief"


# --- S3Storage wiring ---


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("wrong", ["secret", "access"])
def test_s3_wrong_credentials_is_auth_error(
    seaweed: EmbeddedSeaweed, storage: S3Storage, wrong: str
) -> None:
    storage.put("k", b"v")
    bad = S3Storage(
        endpoint=seaweed.endpoint,
        access_key=seaweed.access_key if wrong == "secret" else "JPNOSUCHKEY0000",
        secret_key=seaweed.secret_key + "x" if wrong == "secret" else seaweed.secret_key,
        bucket=storage.bucket,
        max_attempts=1,
    )
    with pytest.raises(StorageAuthError):
        bad.get("k")
    with pytest.raises(StorageAuthError):
        bad.head("k")
    with pytest.raises(StorageAuthError):
        bad.put("k2", b"v")
    with pytest.raises(StorageAuthError):
        list(bad.list())
    assert not storage.exists("k2")


def test_s3_nobody_listening_is_unavailable() -> None:
    port = _free_port()
    dead = S3Storage(
        endpoint=f"http://127.0.0.1:{port}",
        access_key="JPANYKEY",
        secret_key="any-secret-value",
        bucket="b",
        connect_timeout=0.5,
        read_timeout=0.5,
        max_attempts=1,
    )
    with pytest.raises(StorageUnavailable):
        dead.get("k")
    with pytest.raises(StorageUnavailable):
        dead.put("k", b"v")
    with pytest.raises(StorageUnavailable):
        list(dead.list())
    with pytest.raises(StorageUnavailable):
        dead.ensure_bucket()


def test_s3_errors_chain_the_vendor_error(storage: S3Storage) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        storage.get("missing")
    assert caught.value.__cause__ is not None
    assert "missing" in str(caught.value)


def test_s3_from_settings(storage_settings: object, storage: S3Storage) -> None:
    from pool_core.settings import Settings

    assert isinstance(storage_settings, Settings)
    built = S3Storage.from_settings(storage_settings)
    assert built.bucket == storage.bucket
    built.put("via-settings", b"ok")
    assert storage.get("via-settings") == b"ok"


def test_s3_ensure_bucket_is_idempotent(seaweed: EmbeddedSeaweed) -> None:
    fresh = new_bucket_storage(seaweed)
    try:
        assert fresh.bucket_exists()
        fresh.ensure_bucket()
        assert fresh.bucket_exists()
        other = fresh.with_bucket(fresh.bucket + "-absent")
        assert not other.bucket_exists()
    finally:
        drop_bucket(fresh)
    assert not fresh.bucket_exists()


def test_s3_shared_between_threads(storage: S3Storage) -> None:
    payloads = {f"t/{i:03d}": os.urandom(1000 + i) for i in range(64)}
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda item: storage.put(*item), payloads.items()))
        fetched = dict(zip(payloads, pool.map(storage.get, payloads), strict=True))
    assert fetched == payloads


def test_s3_list_pages_with_small_page_size(seaweed: EmbeddedSeaweed) -> None:
    small = new_bucket_storage(seaweed, list_page_size=7)
    try:
        keys = [f"k/{i:03d}" for i in range(30)]
        _put_many(small, keys)
        assert [info.key for info in small.list("k/")] == keys
    finally:
        drop_bucket(small)


# --- the error table, on hand-made botocore errors (no server involved) ---


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "msg"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, ObjectNotFound),
        ("404", 404, ObjectNotFound),
        ("NoSuchUpload", 404, ObjectNotFound),
        ("NoSuchBucket", 404, StorageError),
        ("InvalidAccessKeyId", 403, StorageAuthError),
        ("SignatureDoesNotMatch", 403, StorageAuthError),
        ("AccessDenied", 403, StorageAuthError),
        ("403", 403, StorageAuthError),
        ("SlowDown", 503, StorageUnavailable),
        ("InternalError", 500, StorageUnavailable),
        ("WhateverNew", 502, StorageUnavailable),
        ("EntityTooSmall", 400, StorageError),
    ],
)
def test_error_table(code: str, status: int, expected: type[StorageError]) -> None:
    error = translate_error(_client_error(code, status), "get k")
    assert type(error) is expected
    assert str(error).startswith("get k: ")


def test_error_table_transport_errors() -> None:
    unreachable = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert type(translate_error(unreachable, "x")) is StorageUnavailable
    timeout = ReadTimeoutError(endpoint_url="http://127.0.0.1:1")
    assert type(translate_error(timeout, "x")) is StorageUnavailable
    assert type(translate_error(NoCredentialsError(), "x")) is StorageAuthError


def test_content_disposition_has_ascii_fallback() -> None:
    header = content_disposition('Qazaq "Ğ" файл.mxf')
    assert header.startswith('attachment; filename="Qazaq ___ ____.mxf";')
    assert "filename*=UTF-8''Qazaq%20%22%C4%9E%22%20%D1%84%D0%B0%D0%B9%D0%BB.mxf" in header
    header.encode("latin-1")  # a valid HTTP header value

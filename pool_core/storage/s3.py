"""`ObjectStorage` on any S3 endpoint through boto3; botocore errors end here.

Error mapping (one table, applied to every call):

    NoSuchKey, NoSuchUpload, 404                         -> ObjectNotFound
    InvalidAccessKeyId, SignatureDoesNotMatch,
    AccessDenied, 403, missing credentials               -> StorageAuthError
    connection errors, timeouts, 5xx, SlowDown           -> StorageUnavailable
    anything else                                        -> StorageError
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote

import boto3
import urllib3.exceptions
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from pool_core.errors import ObjectNotFound, StorageAuthError, StorageError, StorageUnavailable
from pool_core.storage.base import MultipartUploadInfo, ObjectInfo, UploadedPart

if TYPE_CHECKING:
    from pool_core.settings import Settings

NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchUpload", "NotFound", "404"})
AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "403",
        "ExpiredToken",
        "InvalidToken",
        "AuthorizationHeaderMalformed",
    }
)
UNAVAILABLE_CODES = frozenset(
    {
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "503",
    }
)
# S3 refuses to delete more keys than this in one DeleteObjects request.
DELETE_BATCH = 1000
# Threads that may share one client (FTP sessions, upload part workers, API requests).
DEFAULT_POOL_CONNECTIONS = 64


def translate_client_error(exc: ClientError, what: str) -> StorageError:
    """Map one botocore `ClientError` to the domain error for it."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"{what}: {code or status} {error.get('Message', '')}".rstrip()
    if code in NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
        return ObjectNotFound(message)
    if code in AUTH_CODES or status == 403:
        return StorageAuthError(message)
    if code in UNAVAILABLE_CODES or status >= 500:
        return StorageUnavailable(message)
    return StorageError(message)


def translate_error(exc: Exception, what: str) -> StorageError:
    """Map any botocore/urllib3 exception to the domain error for it."""
    if isinstance(exc, ClientError):
        return translate_client_error(exc, what)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StorageAuthError(f"{what}: {exc}")
    if isinstance(exc, BotoConnectionError | HTTPClientError | urllib3.exceptions.HTTPError):
        return StorageUnavailable(f"{what}: {exc}")
    return StorageError(f"{what}: {exc}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise vendor errors inside the block as `StorageError` subclasses."""
    try:
        yield
    except (BotoCoreError, ClientError, urllib3.exceptions.HTTPError) as exc:
        raise translate_error(exc, what) from exc


def content_disposition(filename: str) -> str:
    """An RFC 6266 attachment header with an ASCII fallback and the UTF-8 name."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _etag(raw: str | None) -> str:
    return (raw or "").strip('"')


def _range_header(start: int | None, end: int | None) -> str | None:
    if start is None and end is None:
        return None
    first = start or 0
    if first < 0 or (end is not None and end < first):
        raise StorageError(f"invalid byte range {start}-{end}")
    return f"bytes={first}-" if end is None else f"bytes={first}-{end}"


class S3Storage:
    """Objects in one bucket of an S3 endpoint; safe to share between threads."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        region: str = "us-east-1",
        max_pool_connections: int = DEFAULT_POOL_CONNECTIONS,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 5,
        list_page_size: int = 1000,
        client: Any | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.region = region
        self.list_page_size = list_page_size
        if client is None:
            config = Config(
                signature_version="s3v4",
                region_name=region,
                # Path style works with every S3 clone; signing the payload makes the
                # server verify each body's SHA-256 over https too, not only over http.
                s3={"addressing_style": "path", "payload_signing_enabled": True},
                retries={"max_attempts": max_attempts, "mode": "standard"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_pool_connections=max_pool_connections,
                tcp_keepalive=True,
                # Newer botocore adds CRC trailers by default; not every S3 clone accepts them.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            # A private session: boto3's default session is not safe to share across threads.
            session = boto3.session.Session()
            client = session.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=access_key,
                aws_secret_access_key=secret_key,
                region_name=region,
                config=config,
            )
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """The storage the settings describe (the one place boto3 is configured)."""
        return cls(
            endpoint=settings.effective_s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            bucket=settings.s3_bucket,
            region=settings.s3_region,
        )

    def with_bucket(self, bucket: str) -> S3Storage:
        """The same endpoint and connection pool, another bucket."""
        return S3Storage(
            endpoint=self.endpoint,
            access_key="",
            secret_key="",
            bucket=bucket,
            region=self.region,
            list_page_size=self.list_page_size,
            client=self._client,
        )

    def close(self) -> None:
        """Close the connection pool (shared with `with_bucket` copies)."""
        self._client.close()

    def __repr__(self) -> str:
        return f"S3Storage({self.endpoint}, bucket={self.bucket!r})"

    @property
    def client(self) -> Any:
        """The underlying boto3 client, for the rare caller that needs raw S3."""
        return self._client

    # --- buckets ---

    def bucket_exists(self) -> bool:
        """Whether the bucket exists (and our keys may see it)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            error = translate_client_error(exc, f"head bucket {self.bucket}")
            if isinstance(error, ObjectNotFound) or exc.response.get("Error", {}).get("Code") in (
                "NoSuchBucket",
                "404",
            ):
                return False
            raise error from exc
        except (BotoCoreError, urllib3.exceptions.HTTPError) as exc:
            raise translate_error(exc, f"head bucket {self.bucket}") from exc
        return True

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist."""
        if self.bucket_exists():
            return
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**params)
        except ClientError as exc:
            # Lost a race with another process creating it: that is what we wanted.
            if exc.response.get("Error", {}).get("Code") in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                return
            raise translate_client_error(exc, f"create bucket {self.bucket}") from exc
        except (BotoCoreError, urllib3.exceptions.HTTPError) as exc:
            raise translate_error(exc, f"create bucket {self.bucket}") from exc

    # --- whole objects ---

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store a whole object in one request."""
        if isinstance(data, bytes | bytearray | memoryview):
            body: Any = bytes(data)
            size = len(body)
        elif data.seekable():
            position = data.tell()
            size = data.seek(0, 2) - position
            data.seek(position)
            body = data
        else:
            # Signing needs the payload twice; a one-shot stream is small enough to buffer here.
            body = data.read()
            size = len(body)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body}
        if content_type:
            params["ContentType"] = content_type
        if metadata:
            params["Metadata"] = metadata
        with translated(f"put {key}"):
            response = self._client.put_object(**params)
        return ObjectInfo(
            key=key,
            size=size,
            etag=_etag(response.get("ETag")),
            content_type=content_type,
            metadata=dict(metadata or {}),
        )

    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """Read an object, or the inclusive byte range start..end of it."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        byte_range = _range_header(start, end)
        if byte_range:
            params["Range"] = byte_range
        with translated(f"get {key}"):
            try:
                response = self._client.get_object(**params)
            except ClientError as exc:
                if self._range_past_end(exc, key, start):
                    return b""
                raise
            body = response["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
        return data

    def open_stream(
        self, key: str, *, start: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        """Stream an object from `start` in chunks, without loading it whole."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        byte_range = _range_header(start, None)
        if byte_range:
            params["Range"] = byte_range
        # The request is made now, so a missing key fails here and not at the first chunk.
        with translated(f"get {key}"):
            try:
                response = self._client.get_object(**params)
            except ClientError as exc:
                if self._range_past_end(exc, key, start):
                    return iter(())
                raise
        return self._chunks(key, response["Body"], chunk_size)

    def _chunks(self, key: str, body: Any, chunk_size: int) -> Iterator[bytes]:
        try:
            with translated(f"read {key}"):
                yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def _range_past_end(self, exc: ClientError, key: str, start: int | None) -> bool:
        """Whether a 416 only means `start` is the object's size (nothing left to read)."""
        if exc.response.get("Error", {}).get("Code") != "InvalidRange" or not start:
            return False
        return self.head(key).size <= start

    def head(self, key: str) -> ObjectInfo:
        """Describe an object; `ObjectNotFound` if it does not exist."""
        with translated(f"head {key}"):
            response = self._client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key=key,
            size=int(response.get("ContentLength", 0)),
            etag=_etag(response.get("ETag")),
            last_modified=response.get("LastModified"),
            content_type=response.get("ContentType"),
            metadata=dict(response.get("Metadata") or {}),
        )

    def exists(self, key: str) -> bool:
        """Whether an object exists."""
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Delete an object; deleting a missing key is not an error."""
        try:
            with translated(f"delete {key}"):
                self._client.delete_object(Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            return

    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete several objects in as few requests as possible."""
        batch: builtins.list[str] = []
        for key in keys:
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                self._delete_batch(batch)
                batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, keys: builtins.list[str]) -> None:
        with translated(f"delete {len(keys)} objects"):
            response = self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        failed = [e for e in response.get("Errors", []) if e.get("Code") != "NoSuchKey"]
        if failed:
            first = failed[0]
            raise StorageError(
                f"delete failed for {len(failed)} of {len(keys)} objects, first "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message', '')}".rstrip()
            )

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """List objects under a prefix, in key order."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=prefix,
            PaginationConfig={"PageSize": self.list_page_size},
        )
        with translated(f"list {prefix!r}"):
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"],
                        size=int(item.get("Size", 0)),
                        etag=_etag(item.get("ETag")),
                        last_modified=item.get("LastModified"),
                    )

    # --- multipart ---

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Open a multipart upload and return its upload id."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if content_type:
            params["ContentType"] = content_type
        with translated(f"create multipart {key}"):
            response = self._client.create_multipart_upload(**params)
        upload_id: str = response["UploadId"]
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> UploadedPart:
        """Upload part `number` (1-10000) of an open multipart upload."""
        if not 1 <= number <= 10000:
            raise StorageError(f"part number {number} is outside 1-10000")
        with translated(f"upload part {number} of {key}"):
            response = self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        return UploadedPart(number=number, etag=_etag(response.get("ETag")), size=len(data))

    def upload_part_copy(
        self, key: str, upload_id: str, number: int, source_key: str, start: int, end: int
    ) -> UploadedPart:
        """Make part `number` from bytes `start`..`end` (inclusive) of an existing object."""
        if not 1 <= number <= 10000:
            raise StorageError(f"part number {number} is outside 1-10000")
        with translated(f"copy part {number} of {key} from {source_key}"):
            response = self._client.upload_part_copy(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": source_key},
                CopySourceRange=f"bytes={start}-{end}",
            )
        etag = _etag(response.get("CopyPartResult", {}).get("ETag"))
        return UploadedPart(number=number, etag=etag, size=end - start + 1)

    def complete_multipart(
        self, key: str, upload_id: str, parts: Iterable[UploadedPart]
    ) -> ObjectInfo:
        """Assemble the parts into the final object."""
        ordered = sorted(parts, key=lambda part: part.number)
        with translated(f"complete multipart {key}"):
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": p.number, "ETag": f'"{p.etag}"'} for p in ordered]
                },
            )
        # HEAD gives the authoritative size, type and date of what was assembled.
        return self.head(key)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abandon a multipart upload and free its parts."""
        with translated(f"abort multipart {key}"):
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def list_multipart_uploads(self, prefix: str = "") -> builtins.list[MultipartUploadInfo]:
        """List open multipart uploads under a prefix."""
        paginator = self._client.get_paginator("list_multipart_uploads")
        uploads: builtins.list[MultipartUploadInfo] = []
        with translated(f"list multipart uploads {prefix!r}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Uploads", []):
                    uploads.append(
                        MultipartUploadInfo(
                            key=item["Key"],
                            upload_id=item["UploadId"],
                            initiated=item.get("Initiated"),
                        )
                    )
        return uploads

    def list_parts(self, key: str, upload_id: str) -> builtins.list[UploadedPart]:
        """List the parts stored so far for an open multipart upload."""
        paginator = self._client.get_paginator("list_parts")
        parts: builtins.list[UploadedPart] = []
        with translated(f"list parts of {key}"):
            for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id):
                for item in page.get("Parts", []):
                    parts.append(
                        UploadedPart(
                            number=int(item["PartNumber"]),
                            etag=_etag(item.get("ETag")),
                            size=int(item.get("Size", 0)),
                        )
                    )
        return sorted(parts, key=lambda part: part.number)

    # --- sharing ---

    def presigned_get(
        self, key: str, *, expires_in: int = 900, download_name: str | None = None
    ) -> str:
        """A URL that lets anyone holding it GET (with Range) the object until it expires."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if download_name:
            params["ResponseContentDisposition"] = content_disposition(download_name)
        with translated(f"presign {key}"):
            url: str = self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )
        return url

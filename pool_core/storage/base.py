"""The object-storage interface every implementation (S3 today) satisfies."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class ObjectInfo:
    """What storage knows about one object."""

    key: str
    size: int
    etag: str
    last_modified: datetime | None = None
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UploadedPart:
    """One finished part of a multipart upload."""

    number: int
    etag: str
    size: int


@dataclass(frozen=True)
class MultipartUploadInfo:
    """An open (not completed, not aborted) multipart upload."""

    key: str
    upload_id: str
    initiated: datetime | None = None


@runtime_checkable
class ObjectStorage(Protocol):
    """Bytes by key. Errors are `pool_core.errors.StorageError` subclasses, never vendor ones."""

    bucket: str

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist."""

    def put(
        self,
        key: str,
        data: bytes | BinaryIO,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store a whole object in one request."""

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Open a multipart upload and return its upload id."""

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> UploadedPart:
        """Upload part `number` (1-10000) of an open multipart upload."""

    def upload_part_copy(
        self, key: str, upload_id: str, number: int, source_key: str, start: int, end: int
    ) -> UploadedPart:
        """Make part `number` from bytes `start`..`end` (inclusive) of an existing object."""

    def complete_multipart(
        self, key: str, upload_id: str, parts: Iterable[UploadedPart]
    ) -> ObjectInfo:
        """Assemble the parts into the final object."""

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Abandon a multipart upload and free its parts."""

    def list_multipart_uploads(self, prefix: str = "") -> list[MultipartUploadInfo]:
        """List open multipart uploads under a prefix."""

    def list_parts(self, key: str, upload_id: str) -> list[UploadedPart]:
        """List the parts stored so far for an open multipart upload."""

    def get(self, key: str, *, start: int | None = None, end: int | None = None) -> bytes:
        """Read an object, or the inclusive byte range start..end of it."""

    def open_stream(
        self, key: str, *, start: int | None = None, chunk_size: int = 1 << 20
    ) -> Iterator[bytes]:
        """Stream an object from `start` in chunks, without loading it whole."""

    def head(self, key: str) -> ObjectInfo:
        """Describe an object; `ObjectNotFound` if it does not exist."""

    def exists(self, key: str) -> bool:
        """Whether an object exists."""

    def delete(self, key: str) -> None:
        """Delete an object; deleting a missing key is not an error."""

    def delete_many(self, keys: Iterable[str]) -> None:
        """Delete several objects in as few requests as possible."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """List objects under a prefix, in key order."""

    def presigned_get(
        self, key: str, *, expires_in: int = 900, download_name: str | None = None
    ) -> str:
        """A URL that lets anyone holding it GET (with Range) the object until it expires."""

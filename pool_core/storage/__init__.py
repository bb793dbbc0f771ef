"""Object storage behind a small interface; `S3Storage.from_settings` wires boto3."""

from pool_core.storage.base import MultipartUploadInfo, ObjectInfo, ObjectStorage, UploadedPart

__all__ = ["MultipartUploadInfo", "ObjectInfo", "ObjectStorage", "UploadedPart"]

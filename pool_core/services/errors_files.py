"""`<name>.errors.txt` beside what an uploader delivered: why it was refused, in plain words.

Written where the person who uploaded the file will look (the refused sidecar's or subtitle
file's folder), and removed when a readable file replaces the refused one. The file may have
been moved out of the writable area meanwhile: then nothing is written or removed, and the
caller's change event still tells.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.orm import Session

from pool_core.errors import InvalidInput, NotFound, PermissionDenied
from pool_core.files import tree
from pool_core.storage.base import ObjectStorage

logger = logging.getLogger("pool_core.services.errors_files")

ERRORS_SUFFIX = ".errors.txt"


def write_errors_file(
    session: Session,
    storage: ObjectStorage,
    *,
    org_id: int,
    path: str,
    text: str,
    asset_id: uuid.UUID,
) -> None:
    """Write (or replace) the errors file at `path`; log, not raise, if it cannot be."""
    try:
        tree.write_small_file(
            session,
            storage,
            org_id=org_id,
            path=path,
            data=text.encode("utf-8"),
            content_type="text/plain; charset=utf-8",
        )
    except (InvalidInput, PermissionDenied) as exc:
        logger.warning("could not write %s: %s", path, exc, extra={"asset_id": str(asset_id)})


def remove_errors_file(session: Session, *, org_id: int, path: str) -> None:
    """Delete the errors file at `path` if there is one."""
    try:
        if tree.get_entry(session, org_id=org_id, path=path) is not None:
            tree.delete_file(session, org_id=org_id, path=path)
    except (InvalidInput, PermissionDenied, NotFound):
        return

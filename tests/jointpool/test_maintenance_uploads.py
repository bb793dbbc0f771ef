"""`jointpool maintenance`, run as an operator runs it, lists the uploads half-way (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys

from pool_core.db import Database
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from pool_core.uploads.service import committed_size, open_upload
from tests.fixtures.orgs import new_org

MIB = 1 << 20


def test_maintenance_lists_a_pending_upload(
    database: Database, storage: S3Storage, storage_settings: Settings
) -> None:
    org = new_org(database, "uztv")
    settings = storage_settings.model_copy(update={"upload_part_size": 5 * MIB})
    writer = open_upload(
        database, storage, settings, org_id=org, user_id=None, path="/incoming/half.mxf"
    )
    writer.write(b"\x47" * (5 * MIB + 1000))
    writer.interrupt()  # the link dropped: one part and a staged tail stay resumable
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOINTPOOL_")}
    env.update(
        JOINTPOOL_DATA_DIR=str(storage_settings.data_dir),
        JOINTPOOL_DATABASE_URL=str(database.url),
        JOINTPOOL_S3_ENDPOINT=storage_settings.s3_endpoint,
        JOINTPOOL_S3_ACCESS_KEY=storage_settings.s3_access_key.get_secret_value(),
        JOINTPOOL_S3_SECRET_KEY=storage_settings.s3_secret_key.get_secret_value(),
        JOINTPOOL_S3_BUCKET=storage_settings.s3_bucket,
    )
    result = subprocess.run(
        [sys.executable, "-m", "jointpool", "maintenance"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("[uploads in progress]\n", 1)[1].split("\n[", 1)[0]
    lines = section.strip().splitlines()
    assert lines[0] == "1 upload(s) pending or settling"
    assert lines[1].startswith(f"  pending {org}:/incoming/half.mxf {5 * MIB + 1000} bytes, idle ")
    assert len(lines) == 2
    # The stale-upload step (default: hours idle) left it resumable.
    with database.session() as session:
        assert committed_size(session, org_id=org, path="/incoming/half.mxf") == 5 * MIB + 1000

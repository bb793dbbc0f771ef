"""Another member's asset events carry only what the catalog shows (issue 15, finding 8).

Once a master is linked to a published title, its whole history became every member's to
read in `GET /v1/changes` and was POSTed to their webhooks: the `/incoming` path, MD5 and
SHA-256, the ingest warnings, the failure text and the sidecar read report (encoding,
delimiter). These tests attack through HTTP: the other member's feed, and the body its own
webhook receiver gets over loopback HTTP.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from catalog_api.app import create_app
from pool_core.db import Database
from pool_core.licensing import jobs as licensing_jobs
from pool_core.queue import JobRunner
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.catalog_api.test_sidecar_ingest import deliver, run_sidecar_jobs
from tests.fixtures.api import Members
from tests.fixtures.ftp import wait_until
from tests.pool_core.test_webhooks import Receiver, running_receiver

MASTER = b"not really a master, but a master's bytes"
# What only the owner may read, as it would appear anywhere in an event.
MASTER_MD5 = hashlib.md5(MASTER).hexdigest()
MASTER_SHA256 = hashlib.sha256(MASTER).hexdigest()
WRONG_MD5 = "0" * 32


def manifest() -> bytes:
    """A Windows-1254, semicolon-separated manifest naming the master's title."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["filename", "kind", "original_title", "title:tr", "genres"])
    writer.writerow(["ep01.mxf", "serial", "Gölge", "Gölge", "drama"])
    return out.getvalue().encode("cp1254")


@pytest.fixture
def settings(api_settings: Settings) -> Settings:
    """The API settings with loopback webhook receivers allowed (the receivers are local)."""
    return api_settings.model_copy(update={"webhook_allow_private_targets": True})


@pytest.fixture
def client(database: Database, api_storage: S3Storage, settings: Settings) -> Iterator[TestClient]:
    """The catalog API with those settings."""
    app = create_app(settings, database, api_storage)
    with TestClient(app, raise_server_exceptions=False) as instance:
        yield instance


def owners_asset_history(
    client: TestClient, database: Database, storage: S3Storage, settings: Settings, m: Members
) -> tuple[str, str]:
    """kztv delivers a master, its manifest and a wrong .md5, and publishes the title.

    Returns the asset id and the `/incoming` folder.
    """
    folder = f"/incoming/secret-{uuid.uuid4().hex[:8]}"
    asset_id = deliver(database, storage, m, f"{folder}/ep01.mxf", MASTER)
    assert asset_id is not None
    deliver(database, storage, m, f"{folder}/ep01.csv", manifest())
    assert run_sidecar_jobs(database, storage, settings) == 1
    deliver(database, storage, m, f"{folder}/ep01.mxf.md5", f"{WRONG_MD5}  ep01.mxf\n".encode())

    asset = client.get(f"/v1/assets/{asset_id}", headers=m.headers("kztv")).json()
    title_id = asset["metadata"]["title_id"]
    assert title_id is not None, asset
    published = client.patch(
        f"/v1/titles/{title_id}", json={"status": "published"}, headers=m.headers("kztv")
    )
    assert published.status_code == 200, published.text
    return str(asset_id), folder


def internals(folder: str) -> list[str]:
    """Strings that must not reach another member."""
    return [
        folder,
        "/incoming",
        MASTER_MD5,
        MASTER_SHA256,
        WRONG_MD5,
        "mismatch",
        "ep01.csv",
        "ep01.mxf.md5",
        "1254",
        "semicolon",
    ]


def asset_events(events: list[dict[str, Any]], asset_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["subject_type"] == "asset" and e["subject_id"] == asset_id]


def test_another_members_feed_shows_no_internals_of_an_asset(
    client: TestClient,
    database: Database,
    api_storage: S3Storage,
    settings: Settings,
    members: Members,
) -> None:
    asset_id, folder = owners_asset_history(client, database, api_storage, settings, members)

    # The owner still reads everything.
    mine = client.get("/v1/changes", headers=members.headers("kztv")).json()["events"]
    text = json.dumps(asset_events(mine, asset_id))
    for secret in (folder, MASTER_MD5, MASTER_SHA256, "mismatch", "1254", "semicolon"):
        assert secret in text, secret

    theirs = client.get("/v1/changes", headers=members.headers("uztv")).json()["events"]
    seen = asset_events(theirs, asset_id)
    # The master is public in the catalog: it shows up, with its title.
    assert {e["kind"] for e in seen} >= {"asset.received", "asset.linked"}
    text = json.dumps(seen)
    for secret in internals(folder):
        assert secret not in text, (secret, seen)
    assert all(e["kind"] != "asset.ingest_warning" for e in seen)
    linked = next(e for e in seen if e["kind"] == "asset.linked")
    assert set(linked["data"]) <= {"title_id", "episode_id"}


def test_another_members_webhook_gets_no_internals_of_an_asset(
    client: TestClient,
    database: Database,
    api_storage: S3Storage,
    settings: Settings,
    members: Members,
) -> None:
    with running_receiver(failures=0) as theirs, running_receiver(failures=0) as mine:
        for org, receiver in (("uztv", theirs), ("kztv", mine)):
            created = client.post(
                "/v1/webhooks",
                json={"url": receiver.url},
                headers=members.headers(org, "rights_manager"),
            )
            assert created.status_code == 201, created.text
        asset_id, folder = owners_asset_history(client, database, api_storage, settings, members)
        with database.session() as session:
            licensing_jobs.ensure_periodic_jobs(session)
        runner = JobRunner(
            database,
            handlers=licensing_jobs.licensing_handlers(settings, database),
            concurrency=1,
            lease_seconds=30,
            backoff_seconds=0.05,
            poll_interval=0.05,
        )
        runner.run_until_idle()

        def bodies(receiver: Receiver) -> list[dict[str, Any]]:
            return asset_events([json.loads(b) for _, b in receiver.received], asset_id)

        wait_until(lambda: len(bodies(theirs)) >= 2, "uztv's webhook deliveries")
        wait_until(lambda: len(bodies(mine)) >= 4, "kztv's webhook deliveries")

    text = json.dumps(bodies(mine))
    for secret in (folder, MASTER_MD5, MASTER_SHA256, "mismatch"):
        assert secret in text, secret
    seen = bodies(theirs)
    assert {e["kind"] for e in seen} >= {"asset.received", "asset.linked"}
    text = json.dumps(seen)
    for secret in internals(folder):
        assert secret not in text, (secret, seen)


def test_another_member_reads_the_asset_without_the_owners_ingest_internals(
    client: TestClient,
    database: Database,
    api_storage: S3Storage,
    settings: Settings,
    members: Members,
) -> None:
    # The same door as the feed, the asset API: its checksums, warnings and sidecar errors
    # narrate the owner's ingest and stay with the owner.
    asset_id, _ = owners_asset_history(client, database, api_storage, settings, members)

    own = client.get(f"/v1/assets/{asset_id}", headers=members.headers("kztv")).json()
    assert own["sha256"] == MASTER_SHA256 and own["md5"] == MASTER_MD5
    assert any("mismatch" in w for w in own["ingest_warnings"]), own

    other = client.get(f"/v1/assets/{asset_id}", headers=members.headers("uztv"))
    assert other.status_code == 200, other.text
    listed = client.get("/v1/assets", headers=members.headers("uztv")).json()["items"]
    for seen in (other.json(), next(a for a in listed if a["id"] == asset_id)):
        assert seen["metadata"]["title_id"] == own["metadata"]["title_id"]
        assert (seen["md5"], seen["sha256"], seen["failure_reason"]) == (None, None, None)
        assert seen["ingest_warnings"] == [] and seen["metadata"]["error"] is None
        text = json.dumps(seen)
        for secret in (MASTER_MD5, MASTER_SHA256, WRONG_MD5, "mismatch"):
            assert secret not in text, (secret, seen)

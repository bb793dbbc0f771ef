"""Webhooks over HTTP (issue 15, finding 12): tunnel ranges, secret rotation, who may manage.

- IPv6 ranges that carry an IPv4 address to a gateway (6to4, Teredo, NAT64) are not public
  receivers: `2002:7f00:1::` is 127.0.0.1 through a 6to4 relay.
- A secret can be rotated; during the grace period deliveries are signed with both secrets,
  so the receiver can switch over without losing one.
- Only `admin` and `rights_manager` may see or manage webhooks: the target URL and the
  delivery log are no business of editors and uploaders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from catalog_api.app import create_app
from pool_core.db import Database
from pool_core.licensing import jobs as licensing_jobs
from pool_core.models import WebhookEndpoint, utcnow
from pool_core.queue import JobRunner
from pool_core.services import webhooks
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.fixtures.api import Members
from tests.fixtures.ftp import wait_until
from tests.pool_core.test_webhooks import Receiver, running_receiver


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://[2002:7f00:1::]/hook", "6to4 (carrying 127.0.0.1)"),
        ("http://[2002:a9fe:a9fe::1]:8080/hook", "6to4 (carrying 169.254.169.254)"),
        ("https://[2002:808:808::1]/hook", "6to4 (carrying 8.8.8.8)"),
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook", "Teredo"),
        ("http://[2001::1]/hook", "Teredo"),
        ("http://[64:ff9b::7f00:1]/hook", "NAT64 (carrying 127.0.0.1)"),
        ("http://[64:ff9b::a9fe:a9fe]/hook", "NAT64 (carrying 169.254.169.254)"),
        ("http://[64:ff9b:1::a00:1]/hook", "NAT64 (carrying 10.0.0.1)"),
    ],
)
def test_tunnel_ranges_are_not_public_receivers(
    api_client: TestClient, members: Members, url: str, named: str
) -> None:
    headers = members.headers("kztv", "rights_manager")
    response = api_client.post("/v1/webhooks", json={"url": url}, headers=headers)
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]

    public = api_client.post(
        "/v1/webhooks", json={"url": "https://93.184.216.34/h"}, headers=headers
    )
    assert public.status_code == 201, public.text
    moved = api_client.patch(
        f"/v1/webhooks/{public.json()['id']}", json={"url": url}, headers=headers
    )
    assert moved.status_code == 422, moved.text
    assert named in moved.json()["detail"]


def test_a_name_resolving_into_a_tunnel_range_is_refused_at_delivery() -> None:
    for text in ("2002:7f00:1::", "2001::1", "64:ff9b::a00:1", "64:ff9b:1::1"):
        refusal = webhooks.refuse_non_public_addresses(
            "hooks.example", [webhooks.ipaddress.ip_address("93.184.216.34"), _ip(text)]
        )
        assert refusal is not None and text in refusal


def _ip(text: str) -> webhooks.IPAddress:
    return webhooks.ipaddress.ip_address(text)


# --- secret rotation ---


@pytest.fixture
def settings(api_settings: Settings) -> Settings:
    """Loopback receivers allowed (the test receivers are local); an hour's grace period."""
    return api_settings.model_copy(
        update={"webhook_allow_private_targets": True, "webhook_secret_grace_seconds": 3600}
    )


@pytest.fixture
def client(database: Database, api_storage: S3Storage, settings: Settings) -> Iterator[TestClient]:
    """The catalog API with those settings."""
    with TestClient(create_app(settings, database, api_storage)) as instance:
        yield instance


def publish_a_title(client: TestClient, members: Members, name: str) -> None:
    """kztv publishes a title: an event every member's feed (and webhooks) carries."""
    body = {"kind": "film", "original_title": name}
    response = client.post("/v1/titles", json=body, headers=members.headers("kztv"))
    assert response.status_code == 201, response.text


def deliver_pending(database: Database, settings: Settings) -> None:
    """Turn new events into deliveries (the dispatcher's work) and run the deliveries."""
    with database.write_session() as session:
        assert webhooks.dispatch(session) >= 1
    JobRunner(
        database,
        handlers=licensing_jobs.licensing_handlers(settings, database),
        concurrency=1,
        lease_seconds=30,
        backoff_seconds=0.05,
        poll_interval=0.05,
    ).run_until_idle()


def last_delivery(receiver: Receiver, count: int) -> tuple[bytes, str]:
    wait_until(lambda: len(receiver.received) >= count, f"webhook delivery {count}")
    headers, body = receiver.received[count - 1]
    return body, headers["X-JointPool-Signature"]


def test_a_rotated_secret_and_the_previous_one_both_verify_during_the_grace_period(
    client: TestClient, database: Database, settings: Settings, members: Members
) -> None:
    headers = members.headers("uztv", "rights_manager")
    with running_receiver(failures=0) as receiver:
        created = client.post("/v1/webhooks", json={"url": receiver.url}, headers=headers)
        assert created.status_code == 201, created.text
        webhook_id, old = created.json()["id"], created.json()["secret"]

        rotated = client.post(f"/v1/webhooks/{webhook_id}/rotate-secret", headers=headers)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old and new.startswith("whsec_")
        assert rotated.json()["previous_secret_expires_at"] is not None

        publish_a_title(client, members, "First")
        deliver_pending(database, settings)
        body, signature = last_delivery(receiver, 1)
        assert json.loads(body)["kind"] == "title.created"
        assert webhooks.verify_signature(new, body, signature)
        assert webhooks.verify_signature(old, body, signature)
        assert not webhooks.verify_signature("whsec_someone-else", body, signature)

        # The grace period ends: only the new secret signs.
        with database.session() as session:
            endpoint = session.get(WebhookEndpoint, webhook_id)
            assert endpoint is not None
            endpoint.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
        publish_a_title(client, members, "Second")
        deliver_pending(database, settings)
        body, signature = last_delivery(receiver, 2)
        assert webhooks.verify_signature(new, body, signature)
        assert not webhooks.verify_signature(old, body, signature)
        assert signature.count("v1=") == 1

    # The secret is never shown again.
    shown = client.get(f"/v1/webhooks/{webhook_id}", headers=headers).json()
    assert "secret" not in shown and old not in json.dumps(shown) and new not in json.dumps(shown)


# --- who may see and manage webhooks ---


def test_only_admins_and_rights_managers_see_or_manage_webhooks(
    api_client: TestClient, members: Members
) -> None:
    made = api_client.post(
        "/v1/webhooks",
        json={"url": "https://93.184.216.34/hook", "description": "our receiver"},
        headers=members.headers("kztv", "rights_manager"),
    )
    assert made.status_code == 201, made.text
    hook = f"/v1/webhooks/{made.json()['id']}"
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/v1/webhooks", None),
        ("GET", hook, None),
        ("GET", f"{hook}/deliveries", None),
        ("POST", "/v1/webhooks", {"url": "https://93.184.216.34/other"}),
        ("PATCH", hook, {"description": "mine now"}),
        ("POST", f"{hook}/rotate-secret", None),
        ("DELETE", hook, None),
    ]
    for role in ("editor", "uploader"):
        for method, path, body in requests:
            response = api_client.request(
                method, path, json=body, headers=members.headers("kztv", role)
            )
            assert response.status_code == 403, (role, method, path, response.text)
            assert "our receiver" not in response.text and "93.184.216.34" not in response.text

    for role in ("admin", "rights_manager"):
        for method, path, body in requests[:3]:
            response = api_client.request(
                method, path, json=body, headers=members.headers("kztv", role)
            )
            assert response.status_code == 200, (role, method, path, response.text)
    # Another organization's manager does not see it either.
    other = api_client.get(hook, headers=members.headers("uztv", "admin"))
    assert other.status_code == 404

"""Webhooks: scoped events POSTed with an HMAC signature, retried through the job queue."""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pool_core.db import Database
from pool_core.errors import InvalidInput, PermissionDenied
from pool_core.models import Job, JobStatus, WebhookDelivery, WebhookDeliveryStatus
from pool_core.queue import JobRunner
from pool_core.services import licensing_jobs, webhooks
from pool_core.settings import Settings
from tests.pool_core.test_licensing import build_world, grant, open_window


class Receiver:
    """A loopback HTTP server that fails the first `failures` POSTs with 500."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = 500 if receiver.failures > 0 else 204
                receiver.failures -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    instance = Receiver(failures=1)
    instance.thread.start()
    yield instance
    instance.server.shutdown()
    instance.server.server_close()


def test_signature_roundtrip() -> None:
    header = webhooks.sign("s3cret", b'{"a":1}')
    assert webhooks.verify_signature("s3cret", b'{"a":1}', header)
    assert not webhooks.verify_signature("s3cret", b'{"a":2}', header)
    assert not webhooks.verify_signature("other", b'{"a":1}', header)
    assert not webhooks.verify_signature("s3cret", b'{"a":1}', "t=1,v1=00")


def test_license_events_are_delivered_signed_and_retried(
    database: Database, receiver: Receiver, tmp_path: Path
) -> None:
    with database.session() as session:
        w = build_world(session)
        with pytest.raises(PermissionDenied):
            webhooks.create_endpoint(session, user=w.buyer_editor, url=receiver.url)
        with pytest.raises(InvalidInput):
            webhooks.create_endpoint(session, user=w.buyer_rm, url="ftp://example/")
        endpoint = webhooks.create_endpoint(
            session,
            user=w.buyer_rm,
            url=receiver.url,
            event_kinds=["license.granted"],
            allow_private_targets=True,
        )
        secret, endpoint_id = endpoint.secret, endpoint.id
        open_window(session, w)
        license_ = grant(session, w, w.buyer_editor)
        licensing_jobs.ensure_periodic_jobs(session)

    settings = Settings(
        data_dir=tmp_path,
        webhook_poll_seconds=3600,
        license_sweep_seconds=3600,
        webhook_allow_private_targets=True,  # the receiver listens on loopback
    )
    handlers = licensing_jobs.licensing_handlers(settings, database)
    runner = JobRunner(
        database,
        handlers=handlers,
        concurrency=1,
        lease_seconds=30,
        backoff_seconds=0.05,
        poll_interval=0.05,
    )
    runner.run_until_idle()
    # The retry waits out its backoff; running until idle again picks it up. Bounded by time,
    # not by a loop count (fifty idle passes can all fall inside one backoff).
    deadline = time.monotonic() + 15
    while len(receiver.received) < 2 and time.monotonic() < deadline:
        runner.run_until_idle()
        time.sleep(0.02)

    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert webhooks.verify_signature(secret, body, headers["X-JointPool-Signature"])
    document = json.loads(body)
    assert document["kind"] == "license.granted"
    assert document["data"]["license_id"] == license_.id
    assert headers["X-JointPool-Event"] == "license.granted"
    with database.session() as session:
        log = webhooks.list_deliveries(session, endpoint_id=endpoint_id, org_id=w.buyer.id)
        assert [(d.status, d.attempts, d.last_status_code) for d in log] == [
            (WebhookDeliveryStatus.SUCCEEDED, 2, 204)
        ]
        jobs = list(session.scalars(select(Job).where(Job.kind == webhooks.DELIVERY_KIND)))
        assert [j.status for j in jobs] == [JobStatus.SUCCEEDED]
        # The periodic jobs rescheduled themselves.
        waiting = set(session.scalars(select(Job.kind).where(Job.status == JobStatus.QUEUED)))
        assert waiting == {webhooks.DISPATCH_KIND, licensing_jobs.EXPIRY_KIND}
        # A second dispatch finds nothing new: no duplicate deliveries.
        assert webhooks.dispatch(session) == 0
        assert len(list(session.scalars(select(WebhookDelivery)))) == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 (loopback address)"),
        ("http://10.1.2.3/", "10.1.2.3 (private address)"),
        ("http://[::1]/", "::1 (loopback address)"),
        ("http://169.254.169.254/", "169.254.169.254 (link-local address)"),
        ("https://[::ffff:127.0.0.1]:8443/x", "(loopback address)"),
        ("http://0.0.0.0:80/", "0.0.0.0 (unspecified address)"),
        ("http://224.0.0.1/", "(multicast address)"),
        ("http://100.64.0.1/", "(not globally routable address)"),
        ("http://[fd00:ec2::254]/", "(private address)"),
    ],
)
def test_private_ip_literals_are_refused_at_registration(
    database: Database, url: str, reason: str
) -> None:
    with database.session() as session:
        w = build_world(session)
        with pytest.raises(InvalidInput, match="may not point at .*" + re.escape(reason)):
            webhooks.create_endpoint(session, user=w.buyer_rm, url=url)
        public = webhooks.create_endpoint(session, user=w.buyer_rm, url="https://93.184.216.34/h")
        with pytest.raises(InvalidInput, match="may not point at"):
            webhooks.update_endpoint(session, user=w.buyer_rm, endpoint_id=public.id, url=url)
        # An operator with on-premises receivers may allow them.
        allowed = webhooks.create_endpoint(
            session, user=w.buyer_rm, url=url, allow_private_targets=True
        )
        assert allowed.url == url


def test_address_classification() -> None:
    def reason(text: str) -> str | None:
        return webhooks.non_public_reason(ipaddress.ip_address(text))

    assert reason("93.184.216.34") is None
    assert reason("2606:4700:4700::1111") is None
    assert reason("::ffff:10.0.0.1") == "private"
    assert reason("::ffff:93.184.216.34") is None
    assert reason("fe80::1") == "link-local"
    assert reason("192.168.1.1") == "private"
    assert reason("240.0.0.1") == "reserved"


def test_a_name_resolving_to_loopback_fails_at_delivery_without_retry(
    database: Database, receiver: Receiver, tmp_path: Path
) -> None:
    port = receiver.server.server_address[1]
    with database.session() as session:
        w = build_world(session)
        # A name, not a literal: registration cannot know where it points.
        endpoint = webhooks.create_endpoint(
            session, user=w.buyer_rm, url=f"http://localhost:{port}/hook"
        )
        endpoint_id = endpoint.id
        open_window(session, w)
        grant(session, w, w.buyer_editor)
        licensing_jobs.ensure_periodic_jobs(session)

    settings = Settings(data_dir=tmp_path, webhook_poll_seconds=3600, license_sweep_seconds=3600)
    assert settings.webhook_allow_private_targets is False
    runner = JobRunner(
        database,
        handlers=licensing_jobs.licensing_handlers(settings, database),
        concurrency=1,
        lease_seconds=30,
        backoff_seconds=0.05,
        poll_interval=0.05,
    )
    for _ in range(5):
        runner.run_until_idle()

    assert receiver.received == []
    with database.session() as session:
        log = webhooks.list_deliveries(session, endpoint_id=endpoint_id, org_id=w.buyer.id)
        assert log, "the dispatcher made no delivery"
        for delivery in log:
            assert delivery.status == WebhookDeliveryStatus.FAILED
            assert delivery.attempts == 1 and delivery.last_status_code is None
            assert delivery.last_error is not None
            assert "localhost resolves to" in delivery.last_error
            assert "loopback address" in delivery.last_error
        jobs = list(session.scalars(select(Job).where(Job.kind == webhooks.DELIVERY_KIND)))
        assert jobs and all(j.status == JobStatus.FAILED and j.attempts == 1 for j in jobs)

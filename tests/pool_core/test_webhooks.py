"""Webhooks: scoped events POSTed with an HMAC signature, retried through the job queue."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.errors import InvalidInput, PermissionDenied, TransientJobError
from pool_core.licensing import jobs as licensing_jobs
from pool_core.models import Job, JobStatus, WebhookDelivery, WebhookDeliveryStatus
from pool_core.queue import JobRunner
from pool_core.services import webhooks
from pool_core.settings import Settings
from pool_server.tls import write_self_signed
from tests.pool_core.test_licensing import build_world, grant, open_window


class Receiver:
    """A loopback HTTP(S) server that fails the first `failures` POSTs with 500.

    With a TLS context it serves https and records the SNI name each handshake asked for.
    """

    def __init__(self, failures: int, tls: ssl.SSLContext | None = None) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.sni_names: list[str | None] = []
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
        if tls is not None:

            def remember_sni(_sock: Any, name: str | None, _context: Any) -> None:
                self.sni_names.append(name)

            tls.sni_callback = remember_sni
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def running_receiver(failures: int, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    instance = Receiver(failures=failures, tls=tls)
    instance.thread.start()
    try:
        yield instance
    finally:
        instance.server.shutdown()
        instance.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(failures=1) as instance:
        yield instance


def test_signature_roundtrip() -> None:
    header = webhooks.sign("s3cret", b'{"a":1}')
    assert webhooks.verify_signature("s3cret", b'{"a":1}', header)
    assert not webhooks.verify_signature("s3cret", b'{"a":2}', header)
    assert not webhooks.verify_signature("other", b'{"a":1}', header)
    assert not webhooks.verify_signature("s3cret", b'{"a":1}', "t=1,v1=00")


def test_license_events_are_delivered_signed_and_retried(
    database: Database, receiver: Receiver, tmp_path: Path
) -> None:
    with database.write_session() as session:
        w = build_world(session)
        with pytest.raises(PermissionDenied):
            webhooks.create_endpoint(
                session, actor=Actor.for_user(w.buyer_editor), url=receiver.url
            )
        with pytest.raises(InvalidInput):
            webhooks.create_endpoint(
                session, actor=Actor.for_user(w.buyer_rm), url="ftp://example/"
            )
        endpoint = webhooks.create_endpoint(
            session,
            actor=Actor.for_user(w.buyer_rm),
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
        log = webhooks.list_deliveries(
            session, actor=Actor.for_user(w.buyer_rm), endpoint_id=endpoint_id
        )
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
    with database.write_session() as session:
        w = build_world(session)
        with pytest.raises(InvalidInput, match="may not point at .*" + re.escape(reason)):
            webhooks.create_endpoint(session, actor=Actor.for_user(w.buyer_rm), url=url)
        public = webhooks.create_endpoint(
            session, actor=Actor.for_user(w.buyer_rm), url="https://93.184.216.34/h"
        )
        with pytest.raises(InvalidInput, match="may not point at"):
            webhooks.update_endpoint(
                session, actor=Actor.for_user(w.buyer_rm), endpoint_id=public.id, url=url
            )
        # An operator with on-premises receivers may allow them.
        allowed = webhooks.create_endpoint(
            session, actor=Actor.for_user(w.buyer_rm), url=url, allow_private_targets=True
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
    with database.write_session() as session:
        w = build_world(session)
        # A name, not a literal: registration cannot know where it points.
        endpoint = webhooks.create_endpoint(
            session, actor=Actor.for_user(w.buyer_rm), url=f"http://localhost:{port}/hook"
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
        log = webhooks.list_deliveries(
            session, actor=Actor.for_user(w.buyer_rm), endpoint_id=endpoint_id
        )
        assert log, "the dispatcher made no delivery"
        for delivery in log:
            assert delivery.status == WebhookDeliveryStatus.FAILED
            assert delivery.attempts == 1 and delivery.last_status_code is None
            assert delivery.last_error is not None
            assert "localhost resolves to" in delivery.last_error
            assert "loopback address" in delivery.last_error
        jobs = list(session.scalars(select(Job).where(Job.kind == webhooks.DELIVERY_KIND)))
        assert jobs and all(j.status == JobStatus.FAILED and j.attempts == 1 for j in jobs)


# --- DNS pinning: the POST connects to the address that was checked, never to a new lookup ---


def queue_delivery(database: Database, url: str) -> int:
    """Register an endpoint (private targets allowed: tests only reach loopback), license a
    title and dispatch; return the one delivery's id."""
    with database.write_session() as session:
        w = build_world(session)
        webhooks.create_endpoint(
            session,
            actor=Actor.for_user(w.buyer_rm),
            url=url,
            event_kinds=["license.granted"],
            allow_private_targets=True,
        )
        open_window(session, w)
        grant(session, w, w.buyer_editor)
    with database.write_session() as session:
        assert webhooks.dispatch(session) == 1
        return session.scalars(select(WebhookDelivery.id)).one()


def delivery_state(database: Database, delivery_id: int) -> tuple[Any, int, str | None]:
    with database.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        return delivery.status, delivery.attempts, delivery.last_error


def stub_resolver(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]
) -> list[tuple[str, int]]:
    """Make the module's resolver answer from `answers`; return the list of its calls."""
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[webhooks.IPAddress]:
        calls.append((host, port))
        return [ipaddress.ip_address(text) for text in answers[host]]

    monkeypatch.setattr(webhooks, "resolve_addresses", resolve)
    return calls


def test_delivery_goes_to_the_checked_address_with_the_original_host_header(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `receiver.test` does not exist in real DNS (.test is reserved): the POST can only have
    # reached the receiver through the address the one resolver call answered.
    calls = stub_resolver(monkeypatch, {"receiver.test": ["127.0.0.1"]})
    with running_receiver(failures=1) as receiver:
        url = f"http://receiver.test:{receiver.port}/hook"
        delivery_id = queue_delivery(database, url)
        # First attempt: the receiver answers 500, the queue would retry.
        with pytest.raises(TransientJobError, match="HTTP 500"):
            webhooks.deliver(
                database, delivery_id=delivery_id, final_attempt=False, allow_private_targets=True
            )
        assert calls == [("receiver.test", receiver.port)]
        webhooks.deliver(
            database, delivery_id=delivery_id, final_attempt=False, allow_private_targets=True
        )
        # One lookup per attempt, none by the HTTP client.
        assert calls == [("receiver.test", receiver.port)] * 2
    assert [headers["Host"] for headers, _ in receiver.received] == [
        f"receiver.test:{receiver.port}"
    ] * 2
    assert delivery_state(database, delivery_id) == (WebhookDeliveryStatus.SUCCEEDED, 2, None)


def test_a_name_rebinding_after_the_check_is_not_looked_up_again(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rebinding attack at the socket edge: the first answer for the name is the checked
    # one, every later answer points elsewhere (127.0.0.2, where nothing listens: a second
    # lookup by the HTTP client would make the delivery fail).
    real_getaddrinfo = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            lookups.append(host)
            host = "127.0.0.1" if len(lookups) == 1 else "127.0.0.2"
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    with running_receiver(failures=0) as receiver:
        delivery_id = queue_delivery(database, f"http://rebind.test:{receiver.port}/hook")
        webhooks.deliver(
            database, delivery_id=delivery_id, final_attempt=False, allow_private_targets=True
        )
    assert lookups == ["rebind.test"]
    assert [headers["Host"] for headers, _ in receiver.received] == [f"rebind.test:{receiver.port}"]
    assert delivery_state(database, delivery_id)[0] == WebhookDeliveryStatus.SUCCEEDED


def test_the_next_checked_address_is_tried_when_one_refuses(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_receiver(failures=0) as receiver:
        # Nothing listens on 127.0.0.2 at the receiver's port: that connection is refused.
        calls = stub_resolver(monkeypatch, {"two.test": ["127.0.0.2", "127.0.0.1"]})
        delivery_id = queue_delivery(database, f"http://two.test:{receiver.port}/hook")
        webhooks.deliver(
            database, delivery_id=delivery_id, final_attempt=False, allow_private_targets=True
        )
    assert len(calls) == 1
    assert [headers["Host"] for headers, _ in receiver.received] == [f"two.test:{receiver.port}"]
    assert delivery_state(database, delivery_id) == (WebhookDeliveryStatus.SUCCEEDED, 1, None)


def test_every_checked_address_refusing_is_a_failed_attempt(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_receiver(failures=0) as receiver:
        stub_resolver(monkeypatch, {"gone.test": ["127.0.0.2"]})
        delivery_id = queue_delivery(database, f"http://gone.test:{receiver.port}/hook")
        with pytest.raises(TransientJobError, match="ConnectError"):
            webhooks.deliver(
                database, delivery_id=delivery_id, final_attempt=False, allow_private_targets=True
            )
    assert receiver.received == []
    status, attempts, error = delivery_state(database, delivery_id)
    assert (status, attempts) == (WebhookDeliveryStatus.PENDING, 1)
    assert error is not None and "connecting to 127.0.0.2" in error


def test_a_checked_answer_with_any_non_public_address_is_refused() -> None:
    public, loopback = ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("127.0.0.1")
    assert webhooks.refuse_non_public_addresses("a.test", [public]) is None
    refusal = webhooks.refuse_non_public_addresses("a.test", [public, loopback])
    assert refusal is not None and "a.test resolves to 127.0.0.1" in refusal


@pytest.mark.parametrize("certified_name", ["receiver.test", "other.test"])
def test_https_delivery_uses_the_name_for_sni_and_certificate_checks(
    database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, certified_name: str
) -> None:
    # The connection goes to 127.0.0.1, yet TLS must present and verify the name: the
    # certificate names only `certified_name` (no IP address), so it verifies exactly when the
    # client checks it against `receiver.test`.
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_self_signed(cert, key, hostname=certified_name)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    stub_resolver(monkeypatch, {"receiver.test": ["127.0.0.1"]})
    with running_receiver(failures=0, tls=server_tls) as receiver:
        delivery_id = queue_delivery(database, f"https://receiver.test:{receiver.port}/hook")
        with httpx.Client(verify=client_tls, timeout=10) as client:
            outcome = (
                nullcontext()
                if certified_name == "receiver.test"
                else pytest.raises(TransientJobError, match="CERTIFICATE_VERIFY_FAILED")
            )
            with outcome:
                webhooks.deliver(
                    database,
                    delivery_id=delivery_id,
                    final_attempt=False,
                    client=client,
                    allow_private_targets=True,
                )
    assert receiver.sni_names == ["receiver.test"]
    if certified_name == "receiver.test":
        assert [headers["Host"] for headers, _ in receiver.received] == [
            f"receiver.test:{receiver.port}"
        ]
        assert delivery_state(database, delivery_id)[0] == WebhookDeliveryStatus.SUCCEEDED
    else:
        assert receiver.received == []

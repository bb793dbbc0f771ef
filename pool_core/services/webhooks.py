"""Webhooks: each organization's change feed POSTed to its endpoints, signed, retried.

Flow: the periodic `webhook_dispatch` job reads each active endpoint's feed from the cursor the
endpoint keeps (the same scoped feed `GET /v1/changes` serves, so a webhook never shows more
than the API would) and, in one transaction, writes a `WebhookDelivery` per event, enqueues a
`webhook_delivery` job for it and advances the cursor. The delivery job POSTs the body; any
non-2xx answer or network error is retried by the job queue with exponential backoff, and the
delivery row keeps the attempt count and last error (the delivery log).

Signature: header `X-JointPool-Signature: t=<unix time>,v1=<hex>[,v1=<hex>]` where each hex is
HMAC-SHA256(secret, f"{t}.{raw body}"); receivers recompute it with the secret they hold,
accept the body if *any* `v1` matches, and reject old timestamps. After a rotation
(`rotate_secret`) deliveries carry two `v1` values, the new secret's first and the previous
one's second, for `webhook_secret_grace_seconds`; then only the new one.

Who: only an organization's `admin` and `rights_manager` may list, read, create, change,
rotate or delete its webhooks or read their delivery logs (`MANAGE_ROLES`); the delivery log
and the target URL are operational details other roles have no need for.

Targets (SSRF guard): unless `webhook_allow_private_targets` is set, a tenant may not make the
pool POST into its own network. Registration refuses URLs whose host is a non-public IP literal;
delivery resolves the host name and fails the delivery for good (no retry) if any address it
resolves to is non-public. The POST then connects to the checked address itself, not to the
name (which could resolve elsewhere the second time: DNS rebinding); the name still goes in the
`Host` header and, for https, in TLS SNI and certificate verification. Redirects are never
followed, so a public receiver cannot bounce the POST inward either. IPv6 ranges that carry an
IPv4 address to a gateway (6to4 2002::/16, Teredo 2001::/32, NAT64 64:ff9b::/96 and
64:ff9b:1::/48) are refused outright: through a relay they can reach the IPv4 address they
embed, private or not, and a public receiver has no need of them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core import queue
from pool_core.common.actor import Actor, audit_as
from pool_core.db import Database
from pool_core.errors import InvalidInput, JobError, NotFound, PermissionDenied, TransientJobError
from pool_core.models import (
    ChangeEvent,
    Role,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    utcnow,
)
from pool_core.services import feed

DELIVERY_KIND = "webhook_delivery"
DISPATCH_KIND = "webhook_dispatch"
SIGNATURE_HEADER = "X-JointPool-Signature"
MANAGE_ROLES = frozenset({Role.ADMIN, Role.RIGHTS_MANAGER})
# Events turned into deliveries per endpoint per dispatch run (the rest wait for the next run).
DISPATCH_BATCH = 500


def _digest(secret: str, stamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """Return the signature header value for a body signed with one secret."""
    return sign_with([secret], body, timestamp=timestamp)


def sign_with(secrets_: Sequence[str], body: bytes, *, timestamp: int | None = None) -> str:
    """Return the signature header value with one `v1` per secret, in the given order."""
    stamp = int(timestamp if timestamp is not None else time.time())
    return ",".join([f"t={stamp}", *(f"v1={_digest(s, stamp, body)}" for s in secrets_)])


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """Check a signature header (what a receiver does): any `v1` may match; stale `t` fails."""
    stamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                stamp = int(value)
            except ValueError:
                return False
        elif name == "v1":
            candidates.append(value)
    if stamp is None or abs(time.time() - stamp) > tolerance:
        return False
    expected = _digest(secret, stamp, body)
    # Every candidate is compared (no early exit), in constant time each.
    return sum(hmac.compare_digest(expected, c) for c in candidates) > 0


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
TEREDO = ipaddress.IPv6Network("2001::/32")
NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _tunnel_reason(address: ipaddress.IPv6Address) -> str | None:
    """Name an IPv6 range that carries an IPv4 address to a gateway, with the one it carries.

    Python's own tables disagree across versions on whether these are global (6to4 is, for
    every version), so they are named here rather than left to `is_global`.
    """
    if address in SIX_TO_FOUR:
        return f"6to4 (carrying {address.sixtofour})"
    if address in TEREDO:
        teredo = address.teredo
        return f"Teredo (carrying {teredo[1]})" if teredo else "Teredo"
    if any(address in network for network in NAT64):
        return f"NAT64 (carrying {ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)})"
    return None


def non_public_reason(address: IPAddress) -> str | None:
    """Say why an address is not on the public internet (None = it is public)."""
    if isinstance(address, ipaddress.IPv6Address):
        tunnel = _tunnel_reason(address)
        if tunnel is not None:
            return tunnel
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1: judge the IPv4 address it carries.
        address = address.ipv4_mapped
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        # The rest of what is not globally routable (100.64/10 carrier NAT, 192.0.0/24, ...).
        ("not globally routable", not address.is_global),
    )
    return next((label for label, hit in checks if hit), None)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_url(url: str, *, allow_private_targets: bool) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook URL must be an absolute http(s) URL")
    address = _literal_address(parts.hostname)
    if address is not None and not allow_private_targets:
        reason = non_public_reason(address)
        if reason is not None:
            raise InvalidInput(
                f"a webhook URL may not point at {address} ({reason} address): webhooks go "
                "to receivers on the public internet (an operator can allow private "
                "targets with JOINTPOOL_WEBHOOK_ALLOW_PRIVATE_TARGETS)"
            )
    return url.strip()


class UnresolvableTarget(Exception):
    """The receiver's host name did not resolve (may be temporary: the delivery is retried)."""


def resolve_addresses(host: str, port: int) -> list[IPAddress]:
    """Resolve a host name to its addresses, in the resolver's preferred order, once each.

    The only DNS lookup a delivery makes: the POST connects to these very addresses.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        raise UnresolvableTarget(f"cannot resolve {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        # The scope id of a link-local IPv6 address (`fe80::1%eth0`) is not part of the address.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvableTarget(f"cannot resolve {host!r}: no addresses")
    return addresses


def refuse_non_public_addresses(host: str, addresses: Iterable[IPAddress]) -> str | None:
    """Say why a host with these addresses must not be called (None = every one is public)."""
    for address in addresses:
        reason = non_public_reason(address)
        if reason is not None:
            return (
                f"refused: {host} resolves to {address}, a {reason} address; webhooks are "
                "only sent to public addresses (see JOINTPOOL_WEBHOOK_ALLOW_PRIVATE_TARGETS)"
            )
    return None


def pinned_request(
    http: httpx.Client,
    url: httpx.URL,
    address: IPAddress,
    *,
    content: bytes,
    headers: dict[str, str],
) -> httpx.Request:
    """Build the POST to `url` so that it connects to `address` and to nothing else.

    The URL's host becomes the IP literal (httpx brackets IPv6), so httpx makes no DNS lookup
    of its own: a name whose answer changes between the check and the connect (DNS rebinding)
    cannot steer the connection elsewhere. The receiver still sees the name: the `Host` header
    is the original one, and for https the `sni_hostname` extension makes httpcore hand the
    name to TLS as `server_hostname`, so SNI and certificate verification use the name too.
    """
    pinned = url.copy_with(host=str(address))
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
    return http.build_request(
        "POST",
        pinned,
        content=content,
        headers={**headers, "Host": url.netloc.decode("ascii")},
        extensions=extensions,
    )


def _manager(actor: Actor) -> None:
    if actor.role not in MANAGE_ROLES:
        raise PermissionDenied("only an admin or rights_manager may manage webhooks")


def create_endpoint(
    session: Session,
    *,
    actor: Actor,
    url: str,
    event_kinds: Iterable[str] = (),
    description: str = "",
    allow_private_targets: bool = False,
) -> WebhookEndpoint:
    """Register a webhook for the user's organization; it receives changes from now on."""
    _manager(actor)
    endpoint = WebhookEndpoint(
        org_id=actor.org_id,
        url=_check_url(url, allow_private_targets=allow_private_targets),
        secret=new_secret(),
        event_kinds=sorted(set(event_kinds)),
        description=description,
        feed_cursor=feed.head_cursor(session),
        created_by=actor.user_id,
    )
    session.add(endpoint)
    session.flush()
    audit_as(
        session,
        actor,
        action="webhook.create",
        subject=f"webhook:{endpoint.id}",
    )
    return endpoint


def get_endpoint(session: Session, *, actor: Actor, endpoint_id: int) -> WebhookEndpoint:
    """Return one of the user's organization's endpoints (admins, rights managers)."""
    _manager(actor)
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.org_id != actor.org_id:
        raise NotFound(f"no webhook {endpoint_id}")
    return endpoint


def list_endpoints(session: Session, *, actor: Actor) -> list[WebhookEndpoint]:
    """Return the user's organization's endpoints (admins, rights managers)."""
    _manager(actor)
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.org_id == actor.org_id)
            .order_by(WebhookEndpoint.id)
        )
    )


def rotate_secret(
    session: Session, *, actor: Actor, endpoint_id: int, grace_seconds: int
) -> WebhookEndpoint:
    """Give an endpoint a new secret; the old one still signs for `grace_seconds`.

    A rotation during a grace period drops the oldest secret: at most two are ever valid.
    """
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    if grace_seconds > 0:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = utcnow() + timedelta(seconds=grace_seconds)
    else:
        endpoint.previous_secret = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret = new_secret()
    session.flush()
    audit_as(
        session,
        actor,
        action="webhook.rotate_secret",
        subject=f"webhook:{endpoint.id}",
        detail={"grace_seconds": grace_seconds},
    )
    return endpoint


def new_secret() -> str:
    """A fresh signing secret."""
    return "whsec_" + secrets.token_urlsafe(32)


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> list[str]:
    """The secrets a delivery is signed with now: the current one, then the previous one
    while its grace period lasts."""
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and (now or utcnow()) < expires:
        found.append(endpoint.previous_secret)
    return found


def update_endpoint(
    session: Session,
    *,
    actor: Actor,
    endpoint_id: int,
    url: str | None = None,
    event_kinds: Iterable[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
    allow_private_targets: bool = False,
) -> WebhookEndpoint:
    """Change an endpoint's URL, filter, description or whether it is active."""
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    if url is not None:
        endpoint.url = _check_url(url, allow_private_targets=allow_private_targets)
    if event_kinds is not None:
        endpoint.event_kinds = sorted(set(event_kinds))
    if description is not None:
        endpoint.description = description
    if active is not None:
        endpoint.active = active
    session.flush()
    audit_as(
        session,
        actor,
        action="webhook.update",
        subject=f"webhook:{endpoint.id}",
    )
    return endpoint


def delete_endpoint(session: Session, *, actor: Actor, endpoint_id: int) -> None:
    """Remove an endpoint and its delivery log."""
    endpoint = get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    session.delete(endpoint)
    session.flush()
    audit_as(
        session,
        actor,
        action="webhook.delete",
        subject=f"webhook:{endpoint_id}",
    )


def list_deliveries(
    session: Session, *, actor: Actor, endpoint_id: int, limit: int = 100
) -> list[WebhookDelivery]:
    """Return an endpoint's delivery log, newest first (admins, rights managers)."""
    get_endpoint(session, actor=actor, endpoint_id=endpoint_id)
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


def event_body(event: ChangeEvent, *, viewer_org_id: int) -> dict[str, Any]:
    """The JSON document one change event is sent (and served by the feed) as, to a viewer.

    Another member's asset event carries only what the catalog shows them (`feed.visible_data`).
    """
    return {
        "id": event.id,
        "kind": event.kind,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "org_id": event.org_id,
        "data": feed.visible_data(event, viewer_org_id=viewer_org_id),
        "created_at": event.created_at.isoformat(),
    }


def dispatch(session: Session, *, max_attempts: int = 8) -> int:
    """Turn new change events into queued deliveries for every active endpoint."""
    created = 0
    endpoints = list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.active.is_(True))
            .order_by(WebhookEndpoint.id)
            # Two dispatchers never read the same cursor (the second skips this endpoint).
            .with_for_update(skip_locked=True)
        )
    )
    for endpoint in endpoints:
        page = feed.list_changes(
            session,
            viewer_org_id=endpoint.org_id,
            cursor=endpoint.feed_cursor,
            limit=DISPATCH_BATCH,
        )
        for event in page.events:
            if endpoint.event_kinds and event.kind not in endpoint.event_kinds:
                continue
            delivery = WebhookDelivery(
                endpoint_id=endpoint.id,
                change_event_id=event.id,
                kind=event.kind,
                body=event_body(event, viewer_org_id=endpoint.org_id),
            )
            session.add(delivery)
            session.flush()
            queue.enqueue(
                session,
                kind=DELIVERY_KIND,
                payload={"delivery_id": delivery.id},
                max_attempts=max_attempts,
                org_id=endpoint.org_id,
            )
            created += 1
        endpoint.feed_cursor = page.next_cursor
    session.flush()
    return created


def _record_attempt(
    session: Session,
    *,
    delivery_id: int,
    status_code: int | None,
    error: str | None,
    final: bool,
) -> None:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_error = error
    if error is None:
        delivery.status = WebhookDeliveryStatus.SUCCEEDED
        delivery.delivered_at = utcnow()
    elif final:
        delivery.status = WebhookDeliveryStatus.FAILED
    session.flush()


def _settle(
    db: Any, *, delivery_id: int, status_code: int | None, error: str | None, final: bool
) -> None:
    """Record an attempt in its own unit of work (it reads the delivery, then updates it)."""
    with db.write_session() as session:
        _record_attempt(
            session, delivery_id=delivery_id, status_code=status_code, error=error, final=final
        )


def _pending_delivery(db: Database, delivery_id: int) -> tuple[str, list[str], bytes, str] | None:
    """The URL, signing secrets, body and kind of a delivery still to make (None: made)."""
    with db.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise JobError(f"webhook delivery {delivery_id} no longer exists")
        if delivery.status == WebhookDeliveryStatus.SUCCEEDED:
            return None
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is None or not endpoint.active:
            raise JobError(f"webhook delivery {delivery_id}: endpoint gone or inactive")
        body = json.dumps(delivery.body, separators=(",", ":"), ensure_ascii=False).encode()
        return endpoint.url, signing_secrets(endpoint), body, delivery.kind


def _post_pinned(
    http: httpx.Client,
    target: httpx.URL,
    addresses: list[IPAddress],
    *,
    url: str,
    body: bytes,
    headers: dict[str, str],
) -> tuple[int | None, str | None]:
    """POST to the checked addresses; the status code and the error (None: delivered)."""
    status_code: int | None = None
    error: str | None = None
    try:
        # The checked addresses in the resolver's order; the next one only if the connection
        # is refused or unreachable (fails fast), as a client trying a name's addresses in
        # turn would. A connect timeout is not retried here: it has used the attempt's time.
        for address in addresses:
            request = pinned_request(http, target, address, content=body, headers=headers)
            try:
                response = http.send(request, follow_redirects=False)
            except httpx.ConnectError as exc:
                error = f"{type(exc).__name__}: {exc} (connecting to {address})"
                continue
            status_code = response.status_code
            error = None if 200 <= status_code < 300 else f"HTTP {status_code} from {url}"
            break
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return status_code, error


def deliver(
    db: Database,
    *,
    delivery_id: int,
    final_attempt: bool,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
    allow_private_targets: bool = False,
) -> None:
    """POST one delivery; raise `TransientJobError` so the queue retries a failure.

    A target that resolves to a non-public address fails the delivery at once (`JobError`,
    not retried): the answer would not change by waiting, and every retry would be another
    request into the private network. The host name is resolved once per attempt and the POST
    connects to the addresses that were checked (see `pinned_request`), in both modes.

    `client` is for tests: its connection pool is keyed by IP address, so one client shared
    by receivers with different names on one address could reuse a TLS connection verified
    for another name.
    """
    pending = _pending_delivery(db, delivery_id)
    if pending is None:
        return  # delivered already
    url, keys, body, kind = pending
    target = httpx.URL(url)
    host = target.raw_host.decode("ascii")
    try:
        # Resolved once, here; the POST below connects to exactly these addresses.
        addresses = resolve_addresses(
            host, target.port or (443 if target.scheme == "https" else 80)
        )
    except UnresolvableTarget as exc:
        _settle(db, delivery_id=delivery_id, status_code=None, error=str(exc), final=final_attempt)
        raise TransientJobError(f"webhook delivery {delivery_id}: {exc}") from exc
    if not allow_private_targets:
        refusal = refuse_non_public_addresses(host, addresses)
        if refusal is not None:
            _settle(db, delivery_id=delivery_id, status_code=None, error=refusal, final=True)
            raise JobError(f"webhook delivery {delivery_id}: {refusal}")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "jointpool-webhooks/1",
        SIGNATURE_HEADER: sign_with(keys, body),
        "X-JointPool-Event": kind,
        "X-JointPool-Delivery": str(delivery_id),
    }
    own_client = client is None
    # Redirects are not followed (a 3xx is a failed attempt): a redirect could point the POST
    # at an address the check above never saw.
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        status_code, error = _post_pinned(
            http, target, addresses, url=url, body=body, headers=headers
        )
    finally:
        if own_client:
            http.close()
    _settle(db, delivery_id=delivery_id, status_code=status_code, error=error, final=final_attempt)
    if error is not None:
        raise TransientJobError(f"webhook delivery {delivery_id}: {error}")

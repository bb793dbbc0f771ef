"""Webhook endpoints of your organization and their delivery logs (admins, rights managers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from catalog_api.deps import ActorDep, SessionDep, StateDep
from catalog_api.schemas.common import PROBLEM_RESPONSES
from catalog_api.schemas.licensing import (
    NewWebhookOut,
    RotatedWebhookOut,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from pool_core.services import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES)

WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("", response_model=NewWebhookOut, status_code=201)
def create_webhook(
    body: WebhookIn, actor: ActorDep, session: SessionDep, state: StateDep
) -> NewWebhookOut:
    """Register a webhook (admins, rights managers); the secret is shown only here."""
    endpoint = webhooks.create_endpoint(
        session,
        actor=actor,
        url=body.url,
        event_kinds=body.event_kinds,
        description=body.description,
        allow_private_targets=state.settings.webhook_allow_private_targets,
    )
    return NewWebhookOut(**WebhookOut.from_model(endpoint).model_dump(), secret=endpoint.secret)


@router.get("", response_model=list[WebhookOut])
def list_webhooks(actor: ActorDep, session: SessionDep) -> list[WebhookOut]:
    """Your organization's webhooks (admins, rights managers)."""
    return [WebhookOut.from_model(e) for e in webhooks.list_endpoints(session, actor=actor)]


@router.get("/{webhook_id}", response_model=WebhookOut)
def get_webhook(webhook_id: WebhookId, actor: ActorDep, session: SessionDep) -> WebhookOut:
    """One of your webhooks (admins, rights managers)."""
    return WebhookOut.from_model(
        webhooks.get_endpoint(session, actor=actor, endpoint_id=webhook_id)
    )


@router.patch("/{webhook_id}", response_model=WebhookOut)
def update_webhook(
    webhook_id: WebhookId,
    body: WebhookPatch,
    actor: ActorDep,
    session: SessionDep,
    state: StateDep,
) -> WebhookOut:
    """Change a webhook's URL, filter, description or active flag."""
    endpoint = webhooks.update_endpoint(
        session,
        actor=actor,
        endpoint_id=webhook_id,
        url=body.url,
        event_kinds=body.event_kinds,
        description=body.description,
        active=body.active,
        allow_private_targets=state.settings.webhook_allow_private_targets,
    )
    return WebhookOut.from_model(endpoint)


@router.post("/{webhook_id}/rotate-secret", response_model=RotatedWebhookOut)
def rotate_webhook_secret(
    webhook_id: WebhookId, actor: ActorDep, session: SessionDep, state: StateDep
) -> RotatedWebhookOut:
    """Replace the signing secret; the old one keeps signing during the grace period.

    Until `previous_secret_expires_at` every delivery carries two `v1` signatures (new secret
    first): switch your receiver to the new secret at any time within it.
    """
    endpoint = webhooks.rotate_secret(
        session,
        actor=actor,
        endpoint_id=webhook_id,
        grace_seconds=state.settings.webhook_secret_grace_seconds,
    )
    return RotatedWebhookOut(
        **WebhookOut.from_model(endpoint).model_dump(),
        secret=endpoint.secret,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
    )


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: WebhookId, actor: ActorDep, session: SessionDep) -> Response:
    """Remove a webhook and its delivery log."""
    webhooks.delete_endpoint(session, actor=actor, endpoint_id=webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[WebhookDeliveryOut])
def list_webhook_deliveries(
    webhook_id: WebhookId, actor: ActorDep, session: SessionDep
) -> list[WebhookDeliveryOut]:
    """The newest deliveries of a webhook: status, attempts, last error."""
    rows = webhooks.list_deliveries(session, actor=actor, endpoint_id=webhook_id)
    return [WebhookDeliveryOut.from_model(d) for d in rows]

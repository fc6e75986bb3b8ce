"""Stripe webhooks: verify, store once, process later (in Celery), exactly once.

- `event_verify` checks the `Stripe-Signature` header with `stripe.Webhook.construct_event`
  (300 s tolerance) against every configured secret, so secrets can be rotated.
- `event_store` inserts the event with `ON CONFLICT (event_id) DO NOTHING`: a duplicate
  delivery is acknowledged and never queued twice.
- `event_process` locks the event row, runs its handler and marks it processed in one
  transaction, so a retry or a duplicate task cannot apply it twice.
- Handlers never trust the event body for state: they re-fetch the subscription from
  Stripe, which makes out-of-order delivery harmless. The tenant is always found through
  the Stripe customer we created for it, never through metadata in the event.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance import audit
from tenants.billing import services, stripe_client
from tenants.billing.models import CheckoutAttempt, Invoice, Subscription, WebhookEvent
from tenants.models import Tenant

log = logging.getLogger(__name__)

TOLERANCE_SECONDS = 300


class WebhookRejected(ValueError):
    """Bad signature, stale timestamp or malformed payload: answer 400, change nothing."""


def event_verify(payload: bytes, signature: str) -> dict[str, Any]:
    secrets = [s for s in settings.STRIPE_WEBHOOK_SECRETS if s]
    if not secrets:
        raise WebhookRejected("no webhook secret configured")
    last_error: Exception | None = None
    for secret in secrets:
        try:
            event = stripe.Webhook.construct_event(
                payload, signature, secret, tolerance=TOLERANCE_SECONDS, api_key=settings.STRIPE_SECRET_KEY
            )
        except stripe.SignatureVerificationError as exc:
            last_error = exc
            continue
        except ValueError as exc:
            raise WebhookRejected("malformed payload") from exc
        data = event.to_dict() if hasattr(event, "to_dict") else dict(event)
        if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
            raise WebhookRejected("not a Stripe event")
        if not isinstance((data.get("data") or {}).get("object"), dict):
            raise WebhookRejected("event without data.object")
        return data
    raise WebhookRejected(f"signature: {last_error}")


INSERT_SQL = (
    "INSERT INTO public.billing_webhookevent "
    "(event_id, type, livemode, created, payload, status, received_at, attempts, error) "
    "VALUES (%s, %s, %s, %s, %s::jsonb, 'pending', now(), 0, '') "
    "ON CONFLICT (event_id) DO NOTHING RETURNING id"
)


def insert_params(event: dict[str, Any]) -> list[Any]:
    created = datetime.fromtimestamp(int(event.get("created") or 0), tz=UTC)
    return [event["id"][:128], event["type"][:64], bool(event.get("livemode")), created, json.dumps(event)]


def event_store(event: dict[str, Any]) -> int | None:
    """Store the event; its row id when new, None when this event id was already stored."""
    with connection.cursor() as cursor:
        cursor.execute(INSERT_SQL, insert_params(event))
        row = cursor.fetchone()
    return row[0] if row else None


def event_accept(payload: bytes, signature: str) -> tuple[str, int | None]:
    """The web view's whole job: verify, store once, queue processing after commit."""
    event = event_verify(payload, signature)
    pk = event_store(event)
    if pk is not None:
        from tenants.billing import tasks

        transaction.on_commit(lambda: tasks.webhook_event_process.delay(pk))
    return event["id"], pk


# --- Processing -----------------------------------------------------------------------------
def tenant_for_customer(customer_id: Any) -> Tenant | None:
    if not isinstance(customer_id, str) or not customer_id:
        return None
    sub = Subscription.objects.select_related("tenant").filter(stripe_customer_id=customer_id).first()
    return sub.tenant if sub else None


def _metadata_disagrees(obj: dict[str, Any], tenant: Tenant) -> bool:
    claimed = (obj.get("metadata") or {}).get("tenant_id")
    return bool(claimed) and str(claimed) != str(tenant.pk)


def _sync_subscription(tenant: Tenant, subscription_id: str, *, dunning: bool = True) -> str:
    fetched = stripe_client.subscription_retrieve(subscription_id)
    if fetched is None:
        return "ignored"
    applied = services.subscription_apply(tenant=tenant, fetched=fetched, dunning=dunning)
    return "processed" if applied is not None else "ignored"


def on_checkout_completed(event: WebhookEvent, obj: dict[str, Any], tenant: Tenant) -> str:
    attempt = CheckoutAttempt.objects.filter(tenant=tenant, session_id=obj.get("id", "")).first()
    subscription_id = obj.get("subscription")
    result = _sync_subscription(tenant, subscription_id) if isinstance(subscription_id, str) else "ignored"
    if attempt is not None and attempt.status != CheckoutAttempt.Status.COMPLETE:
        attempt.status, attempt.completed_at = CheckoutAttempt.Status.COMPLETE, timezone.now()
        attempt.save(update_fields=["status", "completed_at"])
        result = "processed"
    return result


def on_checkout_expired(event: WebhookEvent, obj: dict[str, Any], tenant: Tenant) -> str:
    updated = CheckoutAttempt.objects.filter(
        tenant=tenant, session_id=obj.get("id", ""), status=CheckoutAttempt.Status.OPEN
    ).update(status=CheckoutAttempt.Status.EXPIRED)
    return "processed" if updated else "ignored"


def on_subscription_event(event: WebhookEvent, obj: dict[str, Any], tenant: Tenant) -> str:
    result = _sync_subscription(tenant, obj.get("id", ""))
    if event.type == "customer.subscription.trial_will_end":
        with schema_context(tenant.schema_name):
            audit.record(
                action="billing.trial_will_end",
                target=tenant,
                payload={"trial_end": obj.get("trial_end"), "subscription": obj.get("id")},
            )
        result = "processed"
    return result


def _invoice_mirror(obj: dict[str, Any], tenant: Tenant) -> Invoice:
    invoice, _ = Invoice.objects.select_for_update().get_or_create(
        stripe_invoice_id=obj["id"], defaults={"tenant": tenant}
    )
    invoice.number = obj.get("number") or invoice.number or ""
    invoice.status = obj.get("status") or invoice.status
    invoice.currency = obj.get("currency") or invoice.currency
    invoice.amount_due = int(obj.get("amount_due") or 0)
    invoice.amount_paid = int(obj.get("amount_paid") or 0)
    invoice.hosted_invoice_url = obj.get("hosted_invoice_url") or ""
    created = obj.get("created")
    invoice.issued_at = datetime.fromtimestamp(int(created), tz=UTC) if created else invoice.issued_at
    return invoice


def on_invoice_paid(event: WebhookEvent, obj: dict[str, Any], tenant: Tenant) -> str:
    invoice = _invoice_mirror(obj, tenant)
    invoice.status, invoice.paid_at = "paid", invoice.paid_at or timezone.now()
    invoice.save()
    services.invoice_paid_apply(tenant=tenant)
    with schema_context(tenant.schema_name):
        audit.record(
            action="billing.invoice.paid",
            target=tenant,
            payload={"invoice": obj["id"], "amount_paid": invoice.amount_paid, "event": event.event_id},
        )
    subscription_id = obj.get("subscription")
    if isinstance(subscription_id, str) and subscription_id:
        _sync_subscription(tenant, subscription_id, dunning=False)
    return "processed"


def on_invoice_failed(event: WebhookEvent, obj: dict[str, Any], tenant: Tenant) -> str:
    invoice = _invoice_mirror(obj, tenant)
    invoice.payment_failed_at = timezone.now()
    invoice.failed_attempts += 1
    invoice.save()
    services.invoice_failed_apply(tenant=tenant)
    with schema_context(tenant.schema_name):
        audit.record(
            action="billing.invoice.payment_failed",
            target=tenant,
            payload={"invoice": obj["id"], "amount_due": invoice.amount_due, "event": event.event_id},
        )
    return "processed"


Handler = Callable[[WebhookEvent, dict[str, Any], Tenant], str]
HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": on_checkout_completed,
    "checkout.session.expired": on_checkout_expired,
    "customer.subscription.created": on_subscription_event,
    "customer.subscription.updated": on_subscription_event,
    "customer.subscription.deleted": on_subscription_event,
    "customer.subscription.trial_will_end": on_subscription_event,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_failed": on_invoice_failed,
}


def event_process(*, event_pk: int) -> str:
    """Apply one stored event exactly once. Stripe outages raise (the task retries)."""
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_pk)
        if event.status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED):
            return event.status
        event.attempts += 1
        obj = event.payload.get("data", {}).get("object", {})
        handler = HANDLERS.get(event.type)
        tenant = tenant_for_customer(obj.get("customer")) if handler else None
        if handler is None or tenant is None:
            event.status = WebhookEvent.Status.IGNORED
        else:
            if _metadata_disagrees(obj, tenant):
                log.warning("event %s: metadata names another tenant; using the customer's", event.event_id)
            event.tenant = tenant
            try:
                with transaction.atomic():
                    event.status = handler(event, obj, tenant)
            except stripe_client.StripeUnavailable:
                raise
            except Exception as exc:
                log.exception("webhook event %s failed", event.event_id)
                event.status, event.error = WebhookEvent.Status.FAILED, repr(exc)[:2000]
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "tenant", "attempts", "processed_at", "error"])
        return event.status


def events_process(*, event_pks: list[int]) -> dict[str, int]:
    """A batch from the ASGI fast path. Each event is its own transaction; a Stripe outage on
    one is raised after the others ran, so the task's retry finds only what is left."""
    counts: dict[str, int] = {}
    outage: stripe_client.StripeUnavailable | None = None
    for pk in event_pks:
        try:
            status = event_process(event_pk=pk)
        except WebhookEvent.DoesNotExist:
            status = "missing"
        except stripe_client.StripeUnavailable as exc:
            outage, status = exc, "retry"
        counts[status] = counts.get(status, 0) + 1
    if outage is not None:
        raise outage
    return counts


SWEEP_AFTER_SECONDS = 30


def events_sweep(*, older_than: int = SWEEP_AFTER_SECONDS) -> int:
    """Beat safety net: queue events still pending well after they arrived (a web process
    that died before publishing, a broker outage, retries that gave up). Returns how many."""
    from tenants.billing import tasks

    cutoff = timezone.now() - timedelta(seconds=older_than)
    pks = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.PENDING, received_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:5000]
    )
    for start in range(0, len(pks), 50):
        tasks.webhook_events_process.delay(pks[start : start + 50])
    return len(pks)


@transaction.atomic
def event_replay(*, event: WebhookEvent, actor: Any) -> None:
    """Admin "replay": process a stored event again (the operator's decision, audited)."""
    WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.PENDING, error="")
    with schema_context("public"):
        audit.record(
            action="billing.webhook.replay", actor=actor, target=event, payload={"event": event.event_id}
        )
    from tenants.billing import tasks

    pk = event.pk
    transaction.on_commit(lambda: tasks.webhook_event_process.delay(pk))

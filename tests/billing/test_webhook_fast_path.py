"""The webhook's ASGI fast path (`tenants/billing/webhook_asgi.py`), through the real ASGI
application (`portal.asgi.application`) against the real database and Celery task code:
verify, store once (committed before the 2xx), answer, process afterwards; and the beat
sweep for events that were stored but never queued."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django_tenants.utils import tenant_context

from compliance.models import AuditEvent
from tenants.billing import webhook_asgi, webhooks
from tenants.billing.models import Invoice, Subscription, WebhookEvent
from tests.billing.fixtures import API_KEY, OLD_WEBHOOK_SECRET, WEBHOOK_SECRET, make_event, sign


@pytest.fixture
def webhook_secrets(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = API_KEY
    settings.STRIPE_WEBHOOK_SECRETS = [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET]
    settings.ALLOWED_HOSTS = [".localhost", "localhost"]


@pytest.fixture
def acme_customer(committed_db: Any, acme: Any, celery_eager: Any, webhook_secrets: Any) -> Iterator[str]:
    """A Stripe customer id for Acme (committed, so the ASGI path and the task see it); the
    public-schema rows this test makes are removed afterwards."""
    customer = "cus_fast_" + secrets.token_hex(6)
    previous = Subscription.objects.filter(tenant=acme).values_list("stripe_customer_id", flat=True).first()
    Subscription.objects.update_or_create(tenant=acme, defaults={"stripe_customer_id": customer})
    first_event = WebhookEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    try:
        yield customer
    finally:
        WebhookEvent.objects.filter(pk__gt=first_event).delete()
        Invoice.objects.filter(stripe_invoice_id__startswith="in_fast_").delete()
        if previous is None:
            Subscription.objects.filter(tenant=acme).delete()
        else:
            Subscription.objects.filter(tenant=acme).update(stripe_customer_id=previous)


def _invoice_paid(customer: str) -> dict[str, Any]:
    invoice = {
        "id": "in_fast_" + secrets.token_hex(6),
        "object": "invoice",
        "customer": customer,
        "status": "paid",
        "currency": "usd",
        "amount_due": 4900,
        "amount_paid": 4900,
        "created": int(time.time()),
    }
    return make_event("invoice.paid", invoice)


async def _asgi(
    method: str, body: bytes = b"", *, host: str = "localhost", headers: list[tuple[bytes, bytes]] = ()
) -> tuple[int, dict[bytes, bytes], bytes]:
    from portal.asgi import application

    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected until the app is done
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/billing/webhook/",
        "raw_path": b"/billing/webhook/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host.encode()), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), content


async def _post(event: dict[str, Any] | bytes, *, host: str = "localhost", **sign_kwargs: Any) -> Any:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return await _asgi(
        "POST", body, host=host, headers=[(b"stripe-signature", sign(body, **sign_kwargs).encode())]
    )


async def _settled(event_id: str) -> str:
    """Wait (bounded) until the queued task has run; the stored status."""
    status = ""
    for _ in range(200):
        status = await sync_to_async(
            lambda: WebhookEvent.objects.filter(event_id=event_id).values_list("status", flat=True).first()
        )()
        if status and status != "pending":
            return status
        await asyncio.sleep(0.05)
    return status


async def test_it_stores_once_answers_200_and_processes_in_celery(acme_customer, acme):
    event = _invoice_paid(acme_customer)
    status, headers, content = await _post(event)
    assert status == 200
    assert json.loads(content) == {"received": event["id"], "duplicate": False}
    assert headers[b"x-request-id"]
    again, _, content = await _post(event)  # Stripe delivers it a second time
    assert again == 200
    assert json.loads(content)["duplicate"] is True
    await webhook_asgi.shutdown()
    assert await _settled(event["id"]) == "processed"

    def effects() -> tuple[int, int]:
        with tenant_context(acme):
            audit = AuditEvent.objects.filter(
                action="billing.invoice.paid", payload__event=event["id"]
            ).count()
        return WebhookEvent.objects.filter(event_id=event["id"]).count(), audit

    assert await sync_to_async(effects)() == (1, 1)


async def test_it_accepts_the_previous_secret_during_rotation(acme_customer):
    event = _invoice_paid(acme_customer)
    status, _, _ = await _post(event, secret=OLD_WEBHOOK_SECRET)
    await webhook_asgi.shutdown()
    assert status == 200


async def test_bad_signature_stale_replay_and_malformed_payload_are_400_and_store_nothing(acme_customer):
    wrong = _invoice_paid(acme_customer)
    stale = _invoice_paid(acme_customer)
    assert (await _post(wrong, secret="whsec_wrong"))[0] == 400
    assert (await _post(stale, timestamp=int(time.time()) - 301))[0] == 400
    assert (await _post(b'{"id": "evt_x", "type": "invoice.paid"}'))[0] == 400  # signed, but no data.object
    assert (await _post(b"not json"))[0] == 400
    assert (await _asgi("POST", json.dumps(wrong).encode()))[0] == 400  # no signature header
    await webhook_asgi.shutdown()
    stored = await sync_to_async(
        lambda: WebhookEvent.objects.filter(event_id__in=[wrong["id"], stale["id"], "evt_x"]).count()
    )()
    assert stored == 0


async def test_a_host_outside_allowed_hosts_is_refused(acme_customer):
    event = _invoice_paid(acme_customer)
    status, _, _ = await _post(event, host="evil.example")
    await webhook_asgi.shutdown()
    assert status == 400
    assert not await sync_to_async(WebhookEvent.objects.filter(event_id=event["id"]).exists)()


async def test_an_event_posted_to_acmes_host_for_globexs_customer_never_touches_acme(acme_customer, globex):
    """The tenant comes only from the Stripe customer, never from the host or metadata."""
    event = _invoice_paid("cus_globex_unknown_" + secrets.token_hex(3))
    event["data"]["object"]["metadata"] = {"tenant_id": "1"}
    status, _, _ = await _post(event, host="acme.localhost")
    await webhook_asgi.shutdown()
    assert status == 200
    assert await _settled(event["id"]) == "ignored"
    assert not await sync_to_async(
        Invoice.objects.filter(stripe_invoice_id=event["data"]["object"]["id"]).exists
    )()


async def test_other_methods_still_go_to_django(webhook_secrets, committed_db):
    status, _, _ = await _asgi("GET")
    assert status == 405  # the Django view is POST-only


def test_the_sweep_queues_events_stored_but_never_queued(acme_customer, acme):
    """A web process that died between the INSERT and the publish: beat picks the event up."""
    from datetime import timedelta

    from django.utils import timezone

    event = _invoice_paid(acme_customer)
    pk = webhooks.event_store(event)
    WebhookEvent.objects.filter(pk=pk).update(received_at=timezone.now() - timedelta(minutes=5))
    assert webhooks.events_sweep() >= 1
    assert WebhookEvent.objects.get(pk=pk).status == "processed"
    assert Invoice.objects.filter(stripe_invoice_id=event["data"]["object"]["id"]).count() == 1
    assert webhooks.events_sweep() == 0 or not WebhookEvent.objects.filter(pk=pk, status="pending").exists()

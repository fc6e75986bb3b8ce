"""Stripe for tests: localstripe in a subprocess, the fake server in front of it, and
webhook payloads signed with Stripe's real scheme (`t=<ts>,v1=HMAC-SHA256(secret, "t.body")`).

Import the fixtures by name in a test module (tests/billing/conftest.py does it for the
billing tests; tests/isolation/test_billing.py imports them too).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.billing.fake_stripe import FakeStripe
from tests.conftest import free_port

WEBHOOK_SECRET = "whsec_test_current"
OLD_WEBHOOK_SECRET = "whsec_test_previous"
API_KEY = "sk_test_tenantry"


def _wait_for(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("localstripe exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("localstripe did not start")


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    port = free_port()
    exe = Path(sys.executable).with_name("localstripe")
    proc = subprocess.Popen(
        [str(exe), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def fake_stripe(localstripe_url: str) -> Iterator[FakeStripe]:
    fake = FakeStripe(upstream=localstripe_url)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_on(settings: Any, fake_stripe: FakeStripe, platform: Any) -> FakeStripe:
    """Billing on, stripe-python pointed at the fake server (→ localstripe)."""
    settings.STRIPE_SECRET_KEY = API_KEY
    settings.BILLING_ENABLED = True
    settings.STRIPE_API_BASE = fake_stripe.url
    settings.STRIPE_WEBHOOK_SECRETS = [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET]
    return fake_stripe


@pytest.fixture
def celery_eager() -> Iterator[None]:
    from portal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def synced_plans(stripe_on: FakeStripe, db: Any) -> dict[str, Any]:
    """Team and Business exist in Stripe (through the real sync service)."""
    from tenants.billing import catalog
    from tenants.models import Plan

    catalog.plans_sync()
    return {plan.slug: plan for plan in Plan.objects.all()}


def sign(body: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    ts = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={signature}"


def make_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def post_event(client: Any, event: dict[str, Any], **sign_kwargs: Any) -> Any:
    body = json.dumps(event).encode()
    return client.post(
        "/billing/webhook/",
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body, **sign_kwargs),
    )


def stripe_client_for_tests(fake: FakeStripe) -> Any:
    """A stripe-python client playing Stripe's own part (creating subscriptions, paying)."""
    import stripe

    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=0)


def paying_subscription(
    fake: FakeStripe, customer_id: str, price_id: str, quantity: int = 1
) -> dict[str, Any]:
    """What Checkout does in Stripe: a card on file and an active subscription."""
    client = stripe_client_for_tests(fake)
    pm = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    client.v1.payment_methods.attach(pm.id, {"customer": customer_id})
    client.v1.customers.update(customer_id, {"invoice_settings": {"default_payment_method": pm.id}})
    sub = client.v1.subscriptions.create(
        {"customer": customer_id, "items": [{"price": price_id, "quantity": quantity}]}
    )
    return sub.to_dict()

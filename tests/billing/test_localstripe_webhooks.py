"""localstripe's own webhooks (signed by localstripe, real scheme) reach a real server."""

from __future__ import annotations

import threading
import time
import urllib.request
from urllib.parse import urlencode

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

from tenants.billing.models import WebhookEvent
from tests.billing.fixtures import WEBHOOK_SECRET, stripe_client_for_tests


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def _configure_localstripe(localstripe_url: str, url: str, events: list[str]) -> None:
    body = urlencode([("url", url), ("secret", WEBHOOK_SECRET)] + [("events[]", e) for e in events]).encode()
    request = urllib.request.Request(f"{localstripe_url}/_config/webhooks/tenantry-tests", data=body)
    urllib.request.urlopen(request, timeout=5).read()


@pytest.mark.slow
def test_localstripe_signed_webhook_is_verified_and_stored(committed_db, stripe_on, localstripe_url, unique):
    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    _configure_localstripe(localstripe_url, f"http://localhost:{port}/billing/webhook/", ["customer.created"])
    email = f"ls-{unique}@example.test"
    try:
        customer = stripe_client_for_tests(stripe_on).v1.customers.create({"email": email})
        deadline = time.monotonic() + 15
        stored = None
        while time.monotonic() < deadline and stored is None:
            stored = WebhookEvent.objects.filter(
                type="customer.created", payload__data__object__id=customer.id
            ).first()
            time.sleep(0.2)
        assert stored is not None, "localstripe's webhook never arrived"
        assert stored.payload["data"]["object"]["email"] == email
    finally:
        _configure_localstripe(localstripe_url, "http://127.0.0.1:9/", ["never.sent"])
        server.shutdown()
        server.server_close()
        WebhookEvent.objects.filter(payload__data__object__email=email).delete()

"""ASGI entry point: HTTP through Django, websockets through Channels with tenant routing."""

from __future__ import annotations

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application() does

from portal.asgi_http import SyncChainASGIHandler  # noqa: E402

# HTTP through Django with its (all synchronous) middleware chain in one thread hop.
django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from portal.channels import TenantAuthMiddleware, TenantHostMiddleware  # noqa: E402
from portal.routing import websocket_urlpatterns  # noqa: E402
from tenants.billing.webhook_asgi import WebhookFastPath  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The Stripe webhook is answered before Django's middleware stack (see webhook_asgi).
        "http": WebhookFastPath(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(
            TenantHostMiddleware(TenantAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)

# Everything imported so far (Django, the apps, URLconfs, templates) lives as long as the process.
# Move it out of the cyclic garbage collector's view, so a full (generation 2) collection scans
# only what requests and sockets allocate. Without this, a full collection while logs streamed
# stalled the event loop for ~100 ms (benchmarks/streaming.py: p99 133 ms → 54 ms).
gc.collect()
gc.freeze()

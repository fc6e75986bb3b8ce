"""Websocket URL routes: the platform's own, then each app's."""

from __future__ import annotations

from django.urls import path

from deployments.routing import websocket_urlpatterns as deployments_websockets
from portal.consumers import WhoAmIConsumer

websocket_urlpatterns = [
    path("ws/whoami/", WhoAmIConsumer.as_asgi()),
    *deployments_websockets,
]

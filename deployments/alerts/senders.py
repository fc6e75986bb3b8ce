"""Sending one alert through one channel: email, a Slack-compatible webhook, a signed webhook.

Generic webhooks carry:

    X-Tenantry-Event: alert.fired
    X-Tenantry-Delivery: <delivery id>
    X-Tenantry-Timestamp: <unix seconds>
    X-Tenantry-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the channel's secret>

Receivers recompute the HMAC, compare in constant time and refuse old timestamps.
Webhook URLs are tenant input: outside development they may not point at private,
loopback or link-local addresses (no SSRF into the platform's network).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail

from deployments.alerts.models import AlertChannel, AlertDelivery, AlertEvent

TIMEOUT_SECONDS = 5
SIGNATURE_HEADER = "X-Tenantry-Signature"
TIMESTAMP_HEADER = "X-Tenantry-Timestamp"


class DeliveryFailed(Exception):
    """A transient failure: the delivery is retried with backoff."""


class DeliveryRefused(Exception):
    """A permanent failure (bad URL, forbidden address): no retry."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance: int = 300) -> bool:
    """What a receiver does (used by the tests, and documented for customers)."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def payload(event: AlertEvent, tenant_slug: str) -> dict[str, Any]:
    return {
        "type": "alert.fired",
        "tenant": tenant_slug,
        "event_id": event.pk,
        "rule": event.rule_name,
        "kind": event.kind,
        "severity": event.severity,
        "title": event.title,
        "fired_at": event.fired_at.isoformat(),
        "findings": event.findings,
    }


def _private_allowed() -> bool:
    return bool(getattr(settings, "ALERTS_ALLOW_PRIVATE_WEBHOOKS", not settings.PRODUCTION))


def url_check(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DeliveryRefused("webhook URL must be http(s) with a host")
    if settings.PRODUCTION and parts.scheme != "https":
        raise DeliveryRefused("webhook URL must use https")
    if _private_allowed():
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise DeliveryFailed(f"cannot resolve {parts.hostname}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise DeliveryRefused(f"webhook host {parts.hostname} resolves to a non-public address")


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    url_check(url)
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - checked
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - checked
            return int(response.status)
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise DeliveryRefused(f"HTTP {exc.code} from receiver") from exc
        raise DeliveryFailed(f"HTTP {exc.code} from receiver") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(f"cannot reach receiver: {exc}") from exc


def send_email(channel: AlertChannel, data: dict[str, Any]) -> int:
    lines = [data["title"], "", *(f"- {f.get('summary', f.get('subject'))}" for f in data["findings"])]
    lines += ["", f"Rule: {data['rule']} ({data['kind']}, {data['severity']})"]
    lines += [f"Fired at: {data['fired_at']}"]
    try:
        send_mail(
            subject=f"[Tenantry {data['severity']}] {data['title']}",
            message="\n".join(lines),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=list(channel.recipients),
        )
    except OSError as exc:
        raise DeliveryFailed(f"mail server: {exc}") from exc
    return 0


def send_slack(channel: AlertChannel, data: dict[str, Any]) -> int:
    bullets = "\n".join(f"• {f.get('summary', f.get('subject'))}" for f in data["findings"][:20])
    text = f"*{data['title']}* ({data['severity']}, rule {data['rule']})\n{bullets}"
    body = json.dumps({"text": text}).encode()
    return _post(channel.url, body, {"Content-Type": "application/json", "User-Agent": "Tenantry-Alerts"})


def send_webhook(channel: AlertChannel, data: dict[str, Any], delivery: AlertDelivery) -> int:
    body = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tenantry-Alerts",
        "X-Tenantry-Event": "alert.fired",
        "X-Tenantry-Delivery": str(delivery.pk),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(channel.signing_secret, timestamp, body),
    }
    return _post(channel.url, body, headers)


def send(delivery: AlertDelivery, tenant_slug: str) -> int:
    """Send one delivery; returns the HTTP status (0 for email). Raises DeliveryFailed/Refused."""
    channel = delivery.channel
    if channel is None or not channel.is_active:
        raise DeliveryRefused("channel deleted or disabled")
    data = payload(delivery.event, tenant_slug)
    if channel.kind == AlertChannel.Kind.EMAIL:
        return send_email(channel, data)
    if channel.kind == AlertChannel.Kind.SLACK:
        return send_slack(channel, data)
    return send_webhook(channel, data, delivery)

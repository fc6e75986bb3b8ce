"""Forwarding chained events to a webhook (HMAC-signed), syslog (TCP/UDP) or S3.

Each forwarder keeps a cursor (`last_seq`). A delivery sends the next batch of chained
events after the cursor, in seq order, and moves the cursor only when the destination
accepted it: a failing destination never loses events, it falls behind and catches up.
Failures back off exponentially (30 s × 2^n, capped at 1 h), are recorded as attempts and
shown to the tenant (page + API).

Webhook signature: header `X-Tenantry-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>` (the Stripe scheme), so receivers can reject replays.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import socket
import time
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from compliance.chain import chain_pending, iter_chained
from compliance.exports import as_record, syslog_line
from compliance.models import AuditForwardAttempt, AuditForwarder

BATCH = 500
TIMEOUT = 10
BACKOFF_BASE = 30
BACKOFF_MAX = 3600


def _key() -> bytes:
    return hashlib.sha256(f"audit-forwarder:{settings.SECRET_KEY}".encode()).digest()


def seal(secret: str) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(_key()).encrypt(nonce, secret.encode(), b"forwarder")).decode()


def unseal(sealed: str) -> str:
    if not sealed:
        return ""
    raw = base64.b64decode(sealed)
    return AESGCM(_key()).decrypt(raw[:12], raw[12:], b"forwarder").decode()


def sign_webhook(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _send_webhook(forwarder: AuditForwarder, records: list[dict[str, Any]]) -> None:
    import requests

    body = json.dumps({"events": records}, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Tenantry-Audit-Forwarder/1"}
    secret = unseal(forwarder.secret_sealed)
    if secret:
        headers["X-Tenantry-Signature"] = sign_webhook(secret, body, int(time.time()))
    response = requests.post(
        forwarder.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
    )
    if not 200 <= response.status_code < 300:
        raise ConnectionError(f"webhook answered HTTP {response.status_code}")


def _send_syslog(forwarder: AuditForwarder, records: list[dict[str, Any]]) -> None:
    lines = [syslog_line(record).rstrip("\n").encode() for record in records]
    address = (forwarder.host, int(forwarder.port or 514))
    if forwarder.kind == AuditForwarder.Kind.SYSLOG_UDP:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for line in lines:
                sock.sendto(line[:65000], address)
        return
    with socket.create_connection(address, timeout=TIMEOUT) as sock:
        # RFC 6587 octet counting: "<len> <message>".
        sock.sendall(b"".join(str(len(line)).encode() + b" " + line for line in lines))


def _send_s3(forwarder: AuditForwarder, records: list[dict[str, Any]]) -> None:
    import boto3

    access, _, secret = unseal(forwarder.secret_sealed).partition(":")
    client = boto3.client(
        "s3",
        endpoint_url=forwarder.endpoint_url or None,
        aws_access_key_id=access or None,
        aws_secret_access_key=secret or None,
        region_name=settings.S3_REGION,
    )
    body = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()
    span = f"{records[0]['seq']:012d}-{records[-1]['seq']:012d}"
    key = f"{forwarder.prefix.strip('/')}/{records[0]['tenant']}/{span}.jsonl"
    client.put_object(Bucket=forwarder.bucket, Key=key.lstrip("/"), Body=body)


SENDERS = {
    AuditForwarder.Kind.WEBHOOK: _send_webhook,
    AuditForwarder.Kind.SYSLOG_TCP: _send_syslog,
    AuditForwarder.Kind.SYSLOG_UDP: _send_syslog,
    AuditForwarder.Kind.S3: _send_s3,
}


def backoff_seconds(failures: int) -> int:
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, failures - 1))


def forward_due(*, forwarder: AuditForwarder, force: bool = False, max_batches: int = 20) -> dict[str, Any]:
    """Deliver pending events to one forwarder, batch by batch, until caught up or failing."""
    now = timezone.now()
    if not forwarder.is_active or (
        not force and forwarder.next_attempt_at and forwarder.next_attempt_at > now
    ):
        return {"sent": 0, "skipped": True}
    chain_pending()
    sent = 0
    for _ in range(max_batches):
        records = []
        for row in iter_chained(after_seq=forwarder.last_seq, chunk=BATCH):
            records.append(as_record(row))
            if len(records) >= BATCH:
                break
        if not records:
            break
        try:
            SENDERS[forwarder.kind](forwarder, records)
        except Exception as exc:  # any destination error: record, back off, keep the cursor
            _record_failure(forwarder, records, exc)
            return {"sent": sent, "error": str(exc)}
        _record_success(forwarder, records)
        sent += len(records)
    return {"sent": sent}


@transaction.atomic
def _record_success(forwarder: AuditForwarder, records: list[dict[str, Any]]) -> None:
    forwarder.last_seq = records[-1]["seq"]
    forwarder.failures = 0
    forwarder.last_success_at = timezone.now()
    forwarder.next_attempt_at = None
    forwarder.save(update_fields=["last_seq", "failures", "last_success_at", "next_attempt_at"])
    AuditForwardAttempt.objects.create(
        forwarder=forwarder,
        ok=True,
        first_seq=records[0]["seq"],
        last_seq=records[-1]["seq"],
        count=len(records),
    )


@transaction.atomic
def _record_failure(forwarder: AuditForwarder, records: list[dict[str, Any]], exc: Exception) -> None:
    forwarder.failures += 1
    forwarder.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    forwarder.last_error_at = timezone.now()
    forwarder.next_attempt_at = forwarder.last_error_at + dt.timedelta(
        seconds=backoff_seconds(forwarder.failures)
    )
    forwarder.save(update_fields=["failures", "last_error", "last_error_at", "next_attempt_at"])
    AuditForwardAttempt.objects.create(
        forwarder=forwarder,
        ok=False,
        first_seq=records[0]["seq"],
        last_seq=records[-1]["seq"],
        count=len(records),
        error=forwarder.last_error,
    )


def forward_all_due() -> int:
    count = 0
    for forwarder in AuditForwarder.objects.filter(is_active=True):
        forward_due(forwarder=forwarder)
        count += 1
    return count

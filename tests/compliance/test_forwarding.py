"""Forwarding: HMAC-signed webhooks, syslog, failures retried with backoff and visible, no loss."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from compliance import audit, services
from compliance.chain import chain_pending
from compliance.forwarding import backoff_seconds, forward_due
from compliance.models import AuditForwarder

SECRET = "whsec-test"


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        t, v1 = (part.split("=", 1)[1] for part in self.headers["X-Tenantry-Signature"].split(","))
        expected = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        self.received.append(
            {"valid": hmac.compare_digest(expected, v1), "events": json.loads(body)["events"]}
        )
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Any:
    _Receiver.received = []
    _Receiver.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_failing_webhook_is_visible_backs_off_and_loses_nothing(
    in_acme: Any, alice: Any, unique: str, receiver: Any
) -> None:
    port = receiver.server_address[1]
    forwarder = services.forwarder_create(
        actor=alice.user(),
        name="siem",
        kind="webhook",
        url=f"http://127.0.0.1:{_closed_port()}/hook",
        secret=SECRET,
    )
    for n in range(3):
        audit.record(action="test.forward", payload={"n": n, "run": unique})
    chain_pending()
    start = forwarder.last_seq

    result = forward_due(forwarder=forwarder)
    forwarder.refresh_from_db()
    assert "error" in result
    assert forwarder.failures == 1
    assert forwarder.last_seq == start  # nothing skipped
    assert forwarder.next_attempt_at is not None
    assert forwarder.attempts.filter(ok=False).count() == 1
    assert backoff_seconds(1) < backoff_seconds(3) <= 3600
    assert forward_due(forwarder=forwarder).get("skipped")  # backing off

    services.forwarder_update(actor=alice.user(), forwarder=forwarder, url=f"http://127.0.0.1:{port}/hook")
    result = forward_due(forwarder=forwarder, force=True)
    forwarder.refresh_from_db()
    assert forwarder.failures == 0
    delivered = [e for batch in _Receiver.received for e in batch["events"]]
    assert all(batch["valid"] for batch in _Receiver.received)
    assert [e["payload"]["n"] for e in delivered if e["payload"].get("run") == unique] == [0, 1, 2]
    assert [e["seq"] for e in delivered] == list(range(start + 1, forwarder.last_seq + 1))


def test_failing_forwarder_shows_on_the_page_and_api(
    in_acme: Any, alice: Any, client_for: Any, unique: str
) -> None:
    forwarder = services.forwarder_create(
        actor=alice.user(), name="broken", kind="syslog_tcp", host="127.0.0.1", port=_closed_port()
    )
    audit.record(action="test.forward", payload={"run": unique})
    forward_due(forwarder=forwarder)
    client = client_for(alice)
    api = client.get(f"/api/v1/compliance/audit/forwarders/{forwarder.pk}/").json()
    assert api["failures"] == 1
    assert api["attempts"][0]["ok"] is False
    assert "Connection" in api["last_error"] or "refused" in api["last_error"].lower()
    page = client.get("/compliance/audit/forwarding/")
    assert b"failing" in page.content


def test_syslog_udp_delivers_rfc5424(in_acme: Any, alice: Any, unique: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        forwarder = services.forwarder_create(
            actor=alice.user(), name="udp", kind="syslog_udp", host="127.0.0.1", port=sock.getsockname()[1]
        )
        audit.record(action="test.forward", payload={"run": unique})
        forward_due(forwarder=forwarder)
        lines = []
        while True:
            try:
                lines.append(sock.recv(65535).decode())
            except TimeoutError:
                break
            if unique in lines[-1]:
                break
    assert any(line.startswith("<110>1 ") and unique in line for line in lines)
    assert AuditForwarder.objects.get(pk=forwarder.pk).failures == 0


def test_bad_forwarder_config_is_refused(in_acme: Any, alice: Any) -> None:
    with pytest.raises(ValidationError, match="webhook needs"):
        services.forwarder_create(actor=alice.user(), name="x", kind="webhook", url="ftp://nope")
    with pytest.raises(ValidationError, match="Unknown kind"):
        services.forwarder_create(actor=alice.user(), name="x", kind="carrier-pigeon")


def test_s3_forwarding_writes_jsonl_batches(in_acme: Any, alice: Any, unique: str, seaweedfs: Any) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=seaweedfs["endpoint"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="siem-archive")
    forwarder = services.forwarder_create(
        actor=alice.user(),
        name="archive",
        kind="s3",
        bucket="siem-archive",
        prefix="audit",
        endpoint_url=seaweedfs["endpoint"],
        secret="test:test",
    )
    audit.record(action="test.forward", payload={"run": unique})
    assert forward_due(forwarder=forwarder)["sent"] >= 1
    keys = [
        o["Key"] for o in client.list_objects_v2(Bucket="siem-archive", Prefix="audit/t_acme/")["Contents"]
    ]
    body = b"".join(client.get_object(Bucket="siem-archive", Key=key)["Body"].read() for key in keys)
    assert unique.encode() in body

"""A small Stripe-shaped HTTP server for tests, in front of localstripe.

stripe-python talks to this server (`STRIPE_API_BASE`). It

- answers what localstripe lacks, with Stripe-shaped JSON: Checkout Sessions
  (`/v1/checkout/sessions`), Billing Portal sessions (`/v1/billing_portal/sessions`) and
  Billing Meter Events (`/v1/billing/meter_events`, deduplicated by `identifier`);
- maps Prices (`/v1/prices`) onto localstripe's Plans, and `price` onto `plan` in
  subscription requests (localstripe 1.15 predates the Prices API), adding `price` to the
  subscription items it returns;
- honours `Idempotency-Key` like Stripe does (localstripe ignores it): a repeated key
  replays the first answer;
- proxies everything else to localstripe unchanged, and records every request it saw.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][0][c]=x` form pairs → nested dicts (numeric keys stay dict keys: "0")."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if parts:
            node[parts[-1]] = value
    return root


def _price_from_plan(plan: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": plan["id"],
        "object": "price",
        "active": plan.get("active", True),
        "currency": plan.get("currency"),
        "unit_amount": plan.get("amount"),
        "product": plan.get("product"),
        "nickname": plan.get("nickname"),
        "metadata": plan.get("metadata") or {},
        "recurring": {"interval": plan.get("interval"), "interval_count": plan.get("interval_count", 1)},
        "type": "recurring",
    }


def _add_prices(obj: Any) -> Any:
    """Give subscription items a `price` beside localstripe's `plan`."""
    if isinstance(obj, dict):
        if obj.get("object") == "subscription_item" and isinstance(obj.get("plan"), dict):
            obj["price"] = _price_from_plan(obj["plan"])
        for value in obj.values():
            _add_prices(value)
    elif isinstance(obj, list):
        for value in obj:
            _add_prices(value)
    return obj


@dataclass
class FakeStripe:
    upstream: str
    requests: list[Recorded] = field(default_factory=list)
    meter_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    _idempotent: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls(self, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    # --- plumbing --------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        path, _, query = handler.path.partition("?")
        pairs = parse_qsl(body or query, keep_blank_values=True)
        key = handler.headers.get("Idempotency-Key")
        with self._lock:
            self.requests.append(Recorded(method, path, unflatten(pairs), key))
            if method == "POST" and key and key in self._idempotent:
                status, payload = self._idempotent[key]
                self._send(handler, status, payload, replayed=True)
                return
        status, payload = self._route(method, path, query, pairs, dict(handler.headers))
        if method == "POST" and key and status < 500:
            with self._lock:
                self._idempotent.setdefault(key, (status, payload))
        self._send(handler, status, payload)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: bytes, replayed: bool = False) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Request-Id", "req_" + secrets.token_hex(8))
        if replayed:
            handler.send_header("Idempotent-Replayed", "true")
        handler.end_headers()
        handler.wfile.write(payload)

    def _upstream(
        self, method: str, path: str, query: str, pairs: list[tuple[str, str]], headers: dict[str, str]
    ) -> tuple[int, Any]:
        data = urlencode(pairs).encode() if method == "POST" else None
        url = f"{self.upstream}{path}" + (f"?{query}" if query and method != "POST" else "")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", headers.get("Authorization", ""))
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, {"error": {"type": "api_error", "message": raw.decode(errors="replace")}}

    def _route(
        self, method: str, path: str, query: str, pairs: list[tuple[str, str]], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        params = unflatten(pairs)
        now = int(time.time())
        if method == "POST" and path == "/v1/checkout/sessions":
            session_id = "cs_test_" + secrets.token_hex(12)
            return 200, _json(
                {
                    "id": session_id,
                    "object": "checkout.session",
                    "mode": params.get("mode"),
                    "status": "open",
                    "customer": params.get("customer"),
                    "client_reference_id": params.get("client_reference_id"),
                    "metadata": params.get("metadata") or {},
                    "subscription": None,
                    "success_url": params.get("success_url"),
                    "cancel_url": params.get("cancel_url"),
                    "url": f"{self.url}/pay/{session_id}",
                    "created": now,
                    "livemode": False,
                }
            )
        if method == "POST" and path == "/v1/billing_portal/sessions":
            session_id = "bps_" + secrets.token_hex(12)
            return 200, _json(
                {
                    "id": session_id,
                    "object": "billing_portal.session",
                    "customer": params.get("customer"),
                    "return_url": params.get("return_url"),
                    "url": f"{self.url}/portal/{session_id}",
                    "created": now,
                    "livemode": False,
                }
            )
        if method == "POST" and path == "/v1/billing/meter_events":
            identifier = params.get("identifier") or secrets.token_hex(8)
            with self._lock:
                event = self.meter_events.setdefault(
                    identifier,
                    {
                        "object": "billing.meter_event",
                        "identifier": identifier,
                        "event_name": params.get("event_name"),
                        "payload": params.get("payload") or {},
                        "timestamp": now,
                        "created": now,
                        "livemode": False,
                    },
                )
            return 200, _json(event)
        if path.startswith("/v1/prices"):
            return self._prices(method, path, query, pairs, headers)
        if path.startswith(("/v1/subscriptions", "/v1/subscription_items")):
            pairs = [(re.sub(r"\[price\]$", "[plan]", k) if k != "price" else "plan", v) for k, v in pairs]
        status, body = self._upstream(method, path, query, pairs, headers)
        return status, _json(_add_prices(body))

    def _prices(
        self, method: str, path: str, query: str, pairs: list[tuple[str, str]], headers: dict[str, str]
    ) -> tuple[int, bytes]:
        mapped: list[tuple[str, str]] = []
        for key, value in pairs:
            if key == "unit_amount":
                mapped.append(("amount", value))
            elif key == "recurring[interval]":
                mapped.append(("interval", value))
            elif key in ("lookup_key", "type") or key.startswith("recurring["):
                continue
            else:
                mapped.append((key, value))
        status, body = self._upstream(
            method, path.replace("/v1/prices", "/v1/plans", 1), query, mapped, headers
        )
        if status == 200 and body.get("object") == "plan":
            body = _price_from_plan(body)
        elif status == 200 and body.get("object") == "list":
            body["data"] = [_price_from_plan(p) for p in body.get("data", [])]
        return status, _json(body)


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()

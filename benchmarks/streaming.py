"""Log streaming: one agent → portal (daphne + channels-redis) → 10 browser websockets.

    python -m portal.up exec -- .venv/bin/python benchmarks/streaming.py

Two measurements through a real daphne server and Redis channel layer:
- throughput: the agent (the real agent connection code, acked outbox and all) sends as fast
  as the portal acks; lines/s counts agent lines that reached *every one* of the 10 viewers;
- latency: the agent sends at a steady 20,000 lines/s; p99 of (viewer receive − agent
  timestamp), both clocks on this machine.
Baseline: a raw `websockets` relay (no Django, no Channels, no Redis) fanning the same
batches out to 10 clients, measured in the same run; `ratio_vs_echo` = ours / raw.
Targets: ≥ 20,000 lines/s, p99 < 100 ms.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, django_setup, drop_database, emit, free_port, percentile, throwaway_database

VIEWERS = 10
THROUGHPUT_LINES = 200_000
LATENCY_RATE = 20_000
LATENCY_SECONDS = 5
LINE = "2026-01-01T00:00:00Z INFO app request handled path=/api/items status=200 duration_ms=12"

RELAY = r"""
import asyncio, sys
from websockets.asyncio.server import serve, broadcast
viewers = set()
async def handler(ws):
    if ws.request.path == "/viewer":
        viewers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            viewers.discard(ws)
    else:
        async for message in ws:
            broadcast(viewers, message)
            await ws.send('{"type":"ack"}')
async def main():
    async with serve(handler, "127.0.0.1", int(sys.argv[1]), max_size=2**24):
        await asyncio.Future()
asyncio.run(main())
"""


def _wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def setup_portal() -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.cached_db import SessionStore  # settings.SESSION_ENGINE
    from django.core.management import call_command
    from django_tenants.utils import tenant_context

    from deployments.models import Agent, Environment
    from portal.accounts.models import User
    from tenants import pool, services

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    services.public_tenant_ensure()
    pool.pool_refill(1)
    tenant = services.tenant_create(
        slug="acme", name="Acme", admin_email="alice@acme.test", admin_password="bench-" + os.urandom(8).hex()
    )
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with tenant_context(tenant):
        environment = Environment.objects.create(name="bench")
        agent = Agent.objects.create(
            name="bench",
            environment=environment,
            public_key=base64.b64encode(raw_public).decode(),
            host_fingerprint="h",
        )
        user = User.objects.get(email="alice@acme.test")
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "portal.accounts.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        # Owners must use MFA, and sockets check the session passed it (as a real login would).
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from tenants.members.mfa import session_mark_signed_in

        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        session_mark_signed_in(session, device)
        session.save()
        return {
            "agent_id": agent.pk,
            "private_key": base64.b64encode(raw_private).decode(),
            "public_key": base64.b64encode(raw_public).decode(),
            "session": session.session_key,
            "schema": tenant.schema_name,
        }


class Viewers:
    def __init__(self) -> None:
        self.counts = [0] * VIEWERS
        self.latencies: list[float] = []
        self.measure_latency = False

    async def run(self, index: int, url: str, headers: dict, ready: asyncio.Event, started: list) -> None:
        from websockets.asyncio.client import connect

        async with connect(url, additional_headers=headers, max_size=2**24, **_dial(url)) as ws:
            started.append(index)
            if len(started) == VIEWERS:
                ready.set()
            async for raw in ws:
                now = time.time()
                if self.measure_latency and index == 0:
                    frame = json.loads(raw)
                    for _, lines in frame["batches"]:
                        self.latencies.extend(now - line[0] for line in lines)
                # A browser reads the count first; so do the other viewers here (cheap, same for both).
                self.counts[index] += int(raw[raw.index('"n":') + 4 : raw.index(",", raw.index('"n":'))])


def _dial(url: str) -> dict:
    port = int(url.split(":")[2].split("/")[0])
    return {"host": "127.0.0.1", "port": port}


async def stream(conn_factory, viewer_url: str, headers: dict) -> tuple[float, float]:
    """(lines/s to all viewers at saturation, p99 ms at LATENCY_RATE)."""
    viewers = Viewers()
    ready, started = asyncio.Event(), []
    tasks = [
        asyncio.ensure_future(viewers.run(i, viewer_url, headers, ready, started)) for i in range(VIEWERS)
    ]
    await asyncio.wait_for(ready.wait(), 30)
    await asyncio.sleep(0.5)
    sender = await conn_factory()

    # Throughput: produce as fast as the outbox has room; count lines every viewer got.
    start = time.monotonic()
    produced = 0
    while produced < THROUGHPUT_LINES:
        if sender.has_room:
            now = time.time()
            for _ in range(1000):
                sender.log_line(now)
            produced += 1000
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(0.001)
    while min(viewers.counts) < THROUGHPUT_LINES and time.monotonic() - start < 120:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - start
    delivered = min(viewers.counts)
    throughput = delivered / elapsed

    # Latency: a steady LATENCY_RATE, in 10 ms ticks.
    await asyncio.sleep(0.5)
    viewers.measure_latency = True
    per_tick = LATENCY_RATE // 100
    next_tick = time.monotonic()
    end = next_tick + LATENCY_SECONDS
    while time.monotonic() < end:
        now = time.time()
        for _ in range(per_tick):
            sender.log_line(now)
        next_tick += 0.01
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    await asyncio.sleep(1.0)
    viewers.measure_latency = False
    p99 = percentile(viewers.latencies, 99) * 1000 if viewers.latencies else float("inf")
    await sender.close()
    for task in tasks:
        task.cancel()
    return throughput, p99


class PortalSender:
    """The real agent connection (handshake, acked outbox, batching) pointed at daphne."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.task = asyncio.ensure_future(conn.run_forever())
        self.flusher = asyncio.ensure_future(conn.flusher())

    @property
    def has_room(self) -> bool:
        return self.conn.outbox_lines < 20_000

    def log_line(self, ts: float) -> None:
        self.conn.pending_logs.setdefault(None, []).append([ts, "info", "stdout", LINE])
        if len(self.conn.pending_logs[None]) >= 1000:
            self.conn.flush_logs()

    async def close(self) -> None:
        self.conn.stopping = True
        self.task.cancel()
        self.flusher.cancel()


class RelaySender:
    def __init__(self, ws) -> None:
        self.ws, self.batch, self.in_flight = ws, [], 0
        self.sends: set[asyncio.Task] = set()
        self.acker = asyncio.ensure_future(self._acks())
        self.flusher = asyncio.ensure_future(self._flush_loop())

    async def _acks(self) -> None:
        async for _ in self.ws:
            self.in_flight -= 1

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(0.02)
            self._flush()

    def _flush(self) -> None:
        if self.batch:
            lines, self.batch = self.batch, []
            self.in_flight += 1
            frame = f'{{"type":"lines","n":{len(lines)},"dropped":0,"batches":[[0,{json.dumps(lines)}]]}}'
            self.sends.add(task := asyncio.ensure_future(self.ws.send(frame)))
            task.add_done_callback(self.sends.discard)

    @property
    def has_room(self) -> bool:
        return self.in_flight < 20

    def log_line(self, ts: float) -> None:
        self.batch.append([ts, "info", "stdout", LINE])
        if len(self.batch) >= 1000:
            self._flush()

    async def close(self) -> None:
        self.acker.cancel()
        self.flusher.cancel()
        await self.ws.close()


async def measure_portal(port: int, info: dict) -> tuple[float, float]:
    from deployments.agent.connection import Connection
    from deployments.agent.identity import Identity

    host = f"acme.localhost:{port}"
    identity = Identity(
        agent_id=info["agent_id"], private_key=info["private_key"], public_key=info["public_key"],
        tenant=info["schema"], release_public_key=info["public_key"], environment="bench", token_sha="",
    )  # fmt: skip

    async def factory() -> PortalSender:
        conn = Connection(url=f"http://{host}", identity=identity, connect_to=f"127.0.0.1:{port}")
        sender = PortalSender(conn)
        await asyncio.wait_for(conn.connected.wait(), 20)
        return sender

    from django.conf import settings

    headers = {"Origin": f"http://{host}", "Cookie": f"{settings.SESSION_COOKIE_NAME}={info['session']}"}
    return await stream(factory, f"ws://{host}/ws/deployments/logs/agent/{info['agent_id']}/", headers)


async def measure_relay(port: int) -> tuple[float, float]:
    from websockets.asyncio.client import connect

    async def factory() -> RelaySender:
        ws = await connect(f"ws://127.0.0.1:{port}/agent", max_size=2**24)
        return RelaySender(ws)

    return await stream(factory, f"ws://127.0.0.1:{port}/viewer", {})


def main() -> None:
    url = throwaway_database("tenantry_bench_streaming")
    django_setup("streaming")
    processes: list[subprocess.Popen] = []
    try:
        info = setup_portal()
        from django.db import connection

        connection.close()
        relay_port, portal_port = free_port(), free_port()
        processes.append(subprocess.Popen([sys.executable, "-c", RELAY, str(relay_port)]))
        env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
        daphne = Path(sys.executable).parent / "daphne"
        processes.append(
            subprocess.Popen(
                [str(daphne), "-b", "127.0.0.1", "-p", str(portal_port), "portal.asgi:application"],
                cwd=ROOT,
                env=env,
            )
        )
        _wait_port(relay_port)
        _wait_port(portal_port)
        raw_rate, raw_p99 = asyncio.run(measure_relay(relay_port))
        rate, p99 = asyncio.run(measure_portal(portal_port, info))
        print(
            f"raw websocket relay : {raw_rate:10.0f} lines/s to all {VIEWERS} viewers, p99 {raw_p99:7.1f} ms"
        )
        print(f"portal (Channels)   : {rate:10.0f} lines/s to all {VIEWERS} viewers, p99 {p99:7.1f} ms")
        met_rate, met_p99 = rate >= 20_000, p99 < 100
        verdict = {True: "met", False: "MISSED"}
        print(f"targets: ≥ 20,000 lines/s {verdict[met_rate]}; p99 < 100 ms {verdict[met_p99]}")
        emit(
            {"lines_per_s": round(rate), "p99_ms": round(p99, 1), "ratio_vs_echo": round(rate / raw_rate, 3)}
        )
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        from django.db import connections

        connections.close_all()
        drop_database(url)


if __name__ == "__main__":
    main()

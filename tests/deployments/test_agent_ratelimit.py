"""`hello` on /ws/agent/ is rate limited per client IP and per claimed agent id (Redis)."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from websockets.asyncio.server import serve

from deployments.agent.connection import Connection, Refused
from deployments.agent.identity import Identity
from portal.asgi import application


@pytest.fixture
def hello_limits(settings):
    settings.DEPLOY_HELLO_WINDOW_SECONDS = 3600  # one window for the whole test
    settings.DEPLOY_HELLO_PER_IP = 1000
    settings.DEPLOY_HELLO_PER_AGENT = 1000
    return settings


def _label_ip() -> str:
    # A label only (documentation range, RFC 5737): nothing is ever sent to it.
    return f"192.0.2.{secrets.randbelow(250) + 1}-{secrets.token_hex(3)}"


async def _hello(host: str, ip: str, agent_id: int) -> tuple[dict, dict | None]:
    comm = WebsocketCommunicator(application, "/ws/agent/", headers=[(b"host", host.encode())])
    comm.scope["client"] = (ip, 40000)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "hello", "agent_id": agent_id})
    reply = await comm.receive_json_from(timeout=10)
    closed = None
    if reply["type"] == "throttled":
        closed = await comm.receive_output(timeout=5)
    await comm.disconnect()
    return reply, closed


async def test_hellos_for_one_agent_id_are_limited(committed_db, hello_limits, alice):
    hello_limits.DEPLOY_HELLO_PER_AGENT = 3
    ip, agent_id = _label_ip(), 800_000 + secrets.randbelow(100_000)
    for _ in range(3):
        reply, _ = await _hello(alice.host, ip, agent_id)
        assert reply["type"] == "challenge"
    reply, closed = await _hello(alice.host, _label_ip(), agent_id)  # a new IP does not help
    assert reply["type"] == "throttled"
    assert 0 < reply["retry_after"] <= 3600
    assert closed == {"type": "websocket.close", "code": 4429}
    reply, _ = await _hello(alice.host, ip, agent_id + 1)  # another agent id is not affected
    assert reply["type"] == "challenge"


async def test_hellos_from_one_ip_are_limited(committed_db, hello_limits, alice, mallory):
    hello_limits.DEPLOY_HELLO_PER_IP = 3
    ip, base = _label_ip(), 700_000 + secrets.randbelow(100_000)
    for offset in range(3):
        reply, _ = await _hello(alice.host, ip, base + offset)
        assert reply["type"] == "challenge"
    # Spreading over agent ids or tenants does not help the same IP.
    reply, closed = await _hello(mallory.host, ip, base + 10)
    assert reply["type"] == "throttled"
    assert closed["code"] == 4429
    reply, _ = await _hello(alice.host, _label_ip(), base + 11)
    assert reply["type"] == "challenge"


async def test_a_throttled_agent_keeps_its_credentials_and_comes_back(tmp_path: Path):
    """The agent program treats `throttled` as "later", not as a refusal of its identity."""
    hellos: list[dict] = []

    async def portal(ws) -> None:
        hellos.append(json.loads(await ws.recv()))
        if len(hellos) == 1:
            await ws.send(json.dumps({"type": "throttled", "retry_after": 1}))
        else:
            await ws.send(json.dumps({"type": "refused", "reason": "end of test"}))
        await ws.close(4429 if len(hellos) == 1 else 4403)

    async with serve(portal, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        identity = Identity(7, "", "", "t_acme", "", "env", "")
        conn = Connection(url=f"http://127.0.0.1:{port}", identity=identity)
        with pytest.raises(Refused, match="end of test"):
            await asyncio.wait_for(conn.run_forever(), 30)
    assert [hello["agent_id"] for hello in hellos] == [7, 7]  # it came back after the throttle

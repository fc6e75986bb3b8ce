"""Live logs: agent → portal → browser, levels, persistence, CSV, floods, re-checked roles."""

from __future__ import annotations

import asyncio
import json
import time

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from deployments import logstore
from deployments.consumers.base import logs_group
from deployments.models import Agent, Environment, LogChunk
from portal.asgi import application
from tests.conftest import Persona, session_for
from tests.deployments.conftest import wait_for


def test_clean_lines_detects_levels_and_drops_garbage(db):
    lines = logstore.clean_lines(
        [
            [1.0, "?", "stdout", "2026 ERROR db down"],
            [2.0, "info", "stderr", "ok"],
            "junk",
            [1, 2],
            [3.0, "x", "y", 5],
        ]
    )
    assert [line[1] for line in lines] == ["error", "info"]


def test_csv_export_defuses_formulas_and_filters(db, acme, unique):
    with tenant_context(acme):
        env = Environment.objects.create(name=f"csv-{unique}")
        agent = Agent.objects.create(name="n", environment=env, public_key=f"c{unique}", host_fingerprint="h")
        logstore.chunk_store(
            agent_id=agent.pk,
            seq=1,
            run_id=None,
            lines=[[1.0, "error", "stdout", "=HYPERLINK(evil)"], [2.0, "info", "stdout", "fine"]],
        )
        text = "".join(logstore.csv_rows(LogChunk.objects.filter(agent=agent), level="warning"))
        assert "'=HYPERLINK(evil)" in text
        assert "fine" not in text
        LogChunk.objects.filter(agent=agent).update(received_at=timezone.now() - timezone.timedelta(days=400))
        assert logstore.logs_purge() >= 1


def _viewer(persona: Persona, kind: str, pk: int) -> WebsocketCommunicator:
    key = session_for(persona)
    headers = [
        (b"host", persona.host.encode()),
        (b"origin", f"http://{persona.host}".encode()),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()),
    ]
    return WebsocketCommunicator(application, f"/ws/deployments/logs/{kind}/{pk}/", headers=headers)


async def test_a_browser_gets_an_agents_lines_live_and_they_are_stored(
    committed_db, deploy_settings, deploy_env, start_agent, acme, alice
):
    environment, raw = await sync_to_async(deploy_env)()
    process = await sync_to_async(start_agent)(host=alice.host, token=raw)

    def online():
        with tenant_context(acme):
            return Agent.objects.filter(environment=environment, status="online").first()

    agent = await sync_to_async(wait_for)(online)
    viewer = await sync_to_async(_viewer)(alice, "agent", agent.pk)
    connected, _ = await viewer.connect()
    assert connected
    (process.state_dir / "app.log").write_text("INFO started\nWARNING disk 91%\nERROR cannot reach db\n")
    received: list = []
    async with asyncio.timeout(15):
        while len(received) < 3:
            frame = await viewer.receive_json_from(timeout=15)
            received += [line for _, lines in frame["batches"] for line in lines]
    assert [line[1] for line in received] == ["info", "warning", "error"]
    assert received[2][3] == "ERROR cannot reach db"
    await viewer.disconnect()

    def stored():
        with tenant_context(acme):
            return sum(c.line_count for c in LogChunk.objects.filter(agent=agent)) >= 3

    await sync_to_async(wait_for)(stored)


async def test_a_flood_is_bounded_and_a_slow_viewer_never_blocks_the_sender(
    committed_db, deploy_settings, acme, alice, unique
):
    deploy_settings.DEPLOY_VIEWER_BUFFER_LINES = 1000
    deploy_settings.DEPLOY_VIEWER_FLUSH_SECONDS = 3.0  # a viewer slower than the flood

    def setup():
        with tenant_context(acme):
            env = Environment.objects.create(name=f"flood-{unique}")
            return Agent.objects.create(
                name="n", environment=env, public_key=f"f{unique}", host_fingerprint="h"
            ).pk

    agent_id = await sync_to_async(setup)()
    viewer = await sync_to_async(_viewer)(alice, "agent", agent_id)
    assert (await viewer.connect())[0]
    layer = get_channel_layer()
    line = [time.time(), "info", "stdout", "x" * 100]
    started = time.monotonic()
    for _ in range(300):  # 30,000 lines at a viewer that reads nothing meanwhile
        await layer.group_send(
            logs_group(acme.schema_name, "agent", agent_id),
            {"type": "log.lines", "n": 100, "chunk": json.dumps([agent_id, [line] * 100])},
        )
    assert time.monotonic() - started < 10  # the sender never waited for the viewer
    total, dropped, frames = 0, 0, 0
    while total + dropped < 30_000:
        frame = await viewer.receive_json_from(timeout=8)
        count = sum(len(lines) for _, lines in frame["batches"])
        assert count == frame["n"] <= 1000
        total, dropped, frames = total + count, dropped + frame["dropped"], frames + 1
    assert 0 < total <= 1000 * frames < 30_000  # one bounded buffer per frame, never the whole flood
    assert total + dropped == 30_000  # and the viewer is told how many it missed
    await viewer.disconnect()


async def test_a_viewer_is_cut_off_when_their_access_goes(committed_db, deploy_settings, acme, alice, unique):
    """Deactivation (through the members service) closes an open viewer at its next message."""
    from tenants.members.services import member_active_set, member_create

    def setup():
        with tenant_context(acme):
            env = Environment.objects.create(name=f"rc-{unique}")
            agent = Agent.objects.create(
                name="n", environment=env, public_key=f"r{unique}", host_fingerprint="h"
            )
            member_create(email=f"dev-{unique}@acme.test", role="developer", password="x" * 16)
            return agent.pk

    agent_id = await sync_to_async(setup)()
    dev = Persona("Dev", f"dev-{unique}@acme.test", "developer", "t_acme", "acme.localhost")
    viewer = await sync_to_async(_viewer)(dev, "agent", agent_id)
    assert (await viewer.connect())[0]

    group = logs_group(acme.schema_name, "agent", agent_id)
    line = [time.time(), "info", "stdout", "secret"]
    event = {"type": "log.lines", "n": 1, "chunk": json.dumps([agent_id, [line]])}
    await get_channel_layer().group_send(group, event)
    frame = await viewer.receive_json_from(timeout=5)  # still a member: lines arrive
    assert frame["n"] == 1

    def deactivate():
        from portal.accounts.models import User

        with tenant_context(acme):
            member_active_set(member=User.objects.get(email=dev.email), active=False, actor=alice.user())

    await sync_to_async(deactivate)()
    await get_channel_layer().group_send(group, event)
    output = await viewer.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4403}
    assert await viewer.receive_nothing(timeout=0.3)  # the line itself was never sent
    await viewer.disconnect()


async def test_a_viewer_is_cut_off_when_its_session_is_ended(committed_db, deploy_settings, acme, unique):
    """'End all sessions' (members service) closes the sockets of those sessions at their next message."""
    from tenants.members.models import MemberSession
    from tenants.members.services import member_create, sessions_end

    dev = Persona("Dev", f"sess-{unique}@acme.test", "developer", "t_acme", "acme.localhost")

    def setup():
        with tenant_context(acme):
            env = Environment.objects.create(name=f"se-{unique}")
            agent = Agent.objects.create(
                name="n", environment=env, public_key=f"s{unique}", host_fingerprint="h"
            )
            member_create(email=dev.email, role="developer", password="x" * 16)
            return agent.pk

    agent_id = await sync_to_async(setup)()
    viewer = await sync_to_async(_viewer)(dev, "agent", agent_id)
    assert (await viewer.connect())[0]
    group = logs_group(acme.schema_name, "agent", agent_id)
    event = {
        "type": "log.lines",
        "n": 1,
        "chunk": json.dumps([agent_id, [[time.time(), "info", "stdout", "x"]]]),
    }
    await get_channel_layer().group_send(group, event)
    assert (await viewer.receive_json_from(timeout=5))["n"] == 1

    def end_sessions():
        from django.contrib.sessions.models import Session

        with tenant_context(acme):
            user = dev.user()
            for session in Session.objects.all():  # index the socket's session as the login signal does
                if session.get_decoded().get("_auth_user_id") == str(user.pk):
                    MemberSession.objects.get_or_create(session_key=session.session_key, user=user)
            assert sessions_end(user=user) >= 1

    await sync_to_async(end_sessions)()
    await get_channel_layer().group_send(group, event)
    assert await viewer.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}
    await viewer.disconnect()


async def test_a_batch_that_expired_before_a_viewer_fetched_it_counts_as_dropped(
    committed_db, deploy_settings, acme, alice, unique
):
    from deployments.consumers import fanout

    def setup():
        with tenant_context(acme):
            env = Environment.objects.create(name=f"ref-{unique}")
            return Agent.objects.create(
                name="n", environment=env, public_key=f"e{unique}", host_fingerprint="h"
            ).pk

    agent_id = await sync_to_async(setup)()
    viewer = await sync_to_async(_viewer)(alice, "agent", agent_id)
    assert (await viewer.connect())[0]
    group = logs_group(acme.schema_name, "agent", agent_id)
    line = [time.time(), "info", "stdout", "by reference"]
    ref = await fanout.chunk_put(json.dumps([agent_id, [line]]))
    assert ref is not None
    await get_channel_layer().group_send(group, {"type": "log.lines", "n": 1, "ref": ref})
    frame = await viewer.receive_json_from(timeout=5)
    assert frame["batches"] == [[agent_id, [line]]]
    await get_channel_layer().group_send(group, {"type": "log.lines", "n": 7, "ref": ref + "-gone"})
    frame = await viewer.receive_json_from(timeout=5)
    assert (frame["n"], frame["dropped"], frame["batches"]) == (0, 7, [])
    await viewer.disconnect()

"""Web terminal: step-up + role on open, allow-list, no shell, recording in the audit chain."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.files.storage import default_storage
from django_tenants.utils import tenant_context

from compliance.models import AuditEvent
from deployments import services, terminal
from deployments.models import Agent, TerminalSession
from portal.asgi import application
from tests.conftest import session_for
from tests.deployments.conftest import wait_for

INJECTIONS = [
    "echo hi; rm -rf /",
    "ls | sh",
    "echo $(id)",
    "echo `id`",
    "cat ../../etc/passwd",
    "cat /etc/passwd",
    "echo " + "A" * 5000,
    "rm -rf tmp",
]


@pytest.mark.parametrize("line", INJECTIONS)
def test_command_check_refuses_shell_syntax_paths_and_unknown_programs(db, line):
    with pytest.raises(terminal.TerminalRefused):
        terminal.command_check(line, {"echo", "ls", "cat"})


def test_command_check_gives_an_argument_list(db):
    assert terminal.command_check("echo 'hello world' ok", {"echo"}) == ["echo", "hello world", "ok"]


def _communicator(persona, agent_id: int, *, otp: bool = True, key: str = "") -> WebsocketCommunicator:
    key = key or session_for(persona, otp=otp)
    headers = [
        (b"host", persona.host.encode()),
        (b"origin", f"http://{persona.host}".encode()),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()),
    ]
    return WebsocketCommunicator(application, f"/ws/deployments/terminal/{agent_id}/", headers=headers)


async def _closed(comm: WebsocketCommunicator) -> None:
    while True:
        output = await comm.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            break
    await comm.disconnect()


async def _read_until(comm: WebsocketCommunicator, needle: str, within: float = 15) -> str:
    seen = ""
    deadline = asyncio.get_running_loop().time() + within
    while needle not in seen:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"{needle!r} not in {seen!r}")
        message = await comm.receive_json_from(timeout=remaining)
        seen += message.get("data", "") + message.get("message", "")
    return seen


def _enrolled_agent(deploy_env, start_agent, acme, alice) -> Agent:
    environment, raw = deploy_env()
    start_agent(host=alice.host, token=raw)
    with tenant_context(acme):
        for program in ("echo", "ls"):
            services.terminal_command_allow(program=program, actor=alice.user())
    return wait_for(lambda: _online(acme, environment))


def _online(acme, environment):
    with tenant_context(acme):
        return Agent.objects.filter(environment=environment, status="online").first()


async def _operator_at_a_terminal(deploy_env, start_agent, acme, alice, unique):  # type: ignore[no-untyped-def]
    """A second operator, Ops, with a terminal open on an online agent: (ops, agent, key, comm)."""
    from tenants.members.services import member_create
    from tests.conftest import Persona

    def setup():
        with tenant_context(acme):
            member_create(email=f"ops-{unique}@acme.test", role="operator", password="x" * 16)
        return _enrolled_agent(deploy_env, start_agent, acme, alice)

    agent = await sync_to_async(setup)()
    ops = Persona("Ops", f"ops-{unique}@acme.test", "operator", "t_acme", alice.host)
    key = await sync_to_async(session_for)(ops)
    comm = _communicator(ops, agent.pk, key=key)
    assert (await comm.connect())[0]
    await _read_until(comm, "$ ")
    return ops, agent, key, comm


async def test_opening_needs_step_up_and_the_operator_role(
    committed_db, deploy_settings, acme, alice, bob, unique
):
    def setup():
        from deployments.models import Environment

        with tenant_context(acme):
            env = Environment.objects.create(name=f"term-{unique}")
            return Agent.objects.create(
                name="n", environment=env, public_key=f"k{unique}", host_fingerprint="h"
            ).pk

    agent_id = await sync_to_async(setup)()
    for persona, otp, expected in ((alice, False, "step-up"), (bob, True, "does not allow")):
        comm = await sync_to_async(_communicator)(persona, agent_id, otp=otp)
        connected, _ = await comm.connect()
        assert connected
        message = await comm.receive_json_from(timeout=10)
        assert message["type"] == "error"
        assert expected in message["message"]
        await _closed(comm)


async def test_commands_run_without_a_shell_and_the_session_is_recorded(
    committed_db, deploy_settings, deploy_env, start_agent, acme, alice
):
    agent = await sync_to_async(_enrolled_agent)(deploy_env, start_agent, acme, alice)
    comm = await sync_to_async(_communicator)(alice, agent.pk)
    connected, _ = await comm.connect()
    assert connected
    await _read_until(comm, "$ ")
    await comm.send_json_to({"type": "line", "data": "echo hello from the node"})
    assert "hello from the node" in await _read_until(comm, "[exit 0]")
    for line in INJECTIONS[:5]:
        await comm.send_json_to({"type": "line", "data": line})
        assert "refused" in await _read_until(comm, "$ ")
    await comm.disconnect()

    def recorded():
        with tenant_context(acme):
            session = TerminalSession.objects.filter(agent=agent).last()
            return session if session and session.recording_sha256 else None

    session = await sync_to_async(wait_for)(recorded)

    def check():
        import hashlib

        with tenant_context(acme):
            assert session.commands_run == 1
            assert session.commands_refused == 5
            data = default_storage.open(session.recording).read()
            assert hashlib.sha256(data).hexdigest() == session.recording_sha256
            assert b'"version": 2' in data.splitlines()[0]
            closed = AuditEvent.objects.get(action="deployments.terminal.closed", target_id=str(session.pk))
            assert closed.payload["recording_sha256"] == session.recording_sha256
            refused = AuditEvent.objects.filter(
                action="deployments.terminal.refused", target_id=str(session.pk)
            )
            assert refused.count() == 5

    await sync_to_async(check)()


async def test_the_session_ends_when_the_recording_cannot_be_written(
    committed_db, deploy_settings, deploy_env, start_agent, acme, alice, monkeypatch
):
    agent = await sync_to_async(_enrolled_agent)(deploy_env, start_agent, acme, alice)
    comm = await sync_to_async(_communicator)(alice, agent.pk)
    await comm.connect()
    await _read_until(comm, "$ ")

    def broken(self, kind, data):
        raise OSError("disk full")

    monkeypatch.setattr(terminal.Recorder, "event", broken)
    await comm.send_json_to({"type": "line", "data": "echo hi"})
    assert "cannot be written" in await _read_until(comm, "ending the session")
    await _closed(comm)


async def test_idle_sessions_are_cut_off(committed_db, deploy_settings, deploy_env, start_agent, acme, alice):
    deploy_settings.DEPLOY_TERMINAL_IDLE_SECONDS = 0.4
    agent = await sync_to_async(_enrolled_agent)(deploy_env, start_agent, acme, alice)
    comm = await sync_to_async(_communicator)(alice, agent.pk)
    await comm.connect()
    assert "Idle" in await _read_until(comm, "session closed", within=10)
    await _closed(comm)


async def test_a_demoted_operators_terminal_closes_at_the_next_message(
    committed_db, deploy_settings, deploy_env, start_agent, acme, alice, unique
):
    from channels.layers import get_channel_layer

    from deployments.consumers.base import terminal_group
    from tenants.members.services import member_role_set

    ops, agent, _, comm = await _operator_at_a_terminal(deploy_env, start_agent, acme, alice, unique)

    def demote() -> int:
        with tenant_context(acme):
            member_role_set(member=ops.user(), role="developer", actor=alice.user())
            return TerminalSession.objects.filter(agent=agent).last().pk

    session_id = await sync_to_async(demote)()
    await get_channel_layer().group_send(
        terminal_group(acme.schema_name, session_id),
        {"type": "terminal.output", "payload": {"type": "term_out", "session": session_id, "data": "secret"}},
    )
    output = await comm.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4403}  # the output itself never reached them
    await comm.disconnect()

    def ended():
        with tenant_context(acme):
            return TerminalSession.objects.get(pk=session_id).end_reason

    assert await sync_to_async(wait_for)(ended) == "access revoked"


async def test_a_line_typed_after_the_session_ended_is_not_run(
    committed_db, deploy_settings, deploy_env, start_agent, acme, alice, unique
):
    """Ending a member's sessions closes their terminal at the next line they type: the line is
    neither run nor counted, and the terminal session ends as "access revoked"."""
    from tenants.members.services import sessions_end

    ops, agent, key, comm = await _operator_at_a_terminal(deploy_env, start_agent, acme, alice, unique)

    def end_sessions() -> int:
        from tenants.members.models import MemberSession

        with tenant_context(acme):
            MemberSession.objects.create(session_key=key, user=ops.user())  # as signing in indexes it
            assert sessions_end(user=ops.user()) == 1
            return TerminalSession.objects.filter(agent=agent).last().pk

    session_id = await sync_to_async(end_sessions)()
    await comm.send_json_to({"type": "line", "data": "echo after-the-end"})
    while True:
        output = await comm.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            break
        assert "after-the-end" not in output.get("text", "")  # never echoed back by the agent
    assert output["code"] == 4403
    await comm.disconnect()

    def row():
        with tenant_context(acme):
            return TerminalSession.objects.get(pk=session_id)

    ended = await sync_to_async(wait_for)(lambda: row().end_reason)
    assert ended == "access revoked"
    assert (await sync_to_async(row)()).commands_run == 0

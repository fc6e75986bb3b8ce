"""`/ws/deployments/terminal/<agent_id>/`: a line-based web terminal to an agent.

Opening needs `terminal.open` (operator or admin) and a fresh step-up MFA. Every message,
typed line or output, first re-checks the member's access (`tenants.members.access`): a line
typed after their sessions were ended or their role changed is not run, and the socket
closes. Each line is checked (`deployments.terminal.command_check`), audited, and sent to
the agent as an argument list. Everything shown is recorded (asciicast v2); when the recording cannot be
written, the session ends. Idle sessions are cut off.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from deployments import conf, services, terminal
from deployments.consumers.base import MemberConsumer, terminal_group
from deployments.models import TerminalSession
from portal.channels import run_in_tenant, tenant_sync
from tenants.members.permissions import has_perm


class TerminalConsumer(MemberConsumer):
    access_permission = "terminal.open"
    session_row: TerminalSession | None = None

    async def connect(self) -> None:
        self.session_row, self.recorder, self.closing = None, None, False
        user = self.scope.get("user")
        if not user or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        await self.access_baseline()
        try:
            self.session_row, self.recorder = await self._open(self.scope["url_route"]["kwargs"]["agent_id"])
        except (terminal.TerminalRefused, PermissionError, Exception) as exc:
            message = str(exc) if isinstance(exc, terminal.TerminalRefused) else _denied(exc)
            await self.send_json({"type": "error", "message": message})
            await self.close(code=4403)
            return
        self.group = terminal_group(self.schema, self.session_row.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.last_input = time.monotonic()
        self.idle = asyncio.ensure_future(self._idle_watch())
        await self._show(f"Connected to {self.session_row.agent.name}. Commands run without a shell.\r\n$ ")

    @tenant_sync
    def _open(self, agent_id: int) -> tuple[TerminalSession, terminal.Recorder]:
        user = self.scope["user"]
        user.refresh_from_db(fields=["role", "is_active"])
        row = terminal.terminal_open(agent_id=agent_id, actor=user, session=self.scope.get("session"))
        _ = row.agent.name
        return row, terminal.Recorder(row.pk)

    async def _show(self, data: str) -> bool:
        try:
            self.recorder.event("o", data)
        except OSError:
            await self._end(
                "recording failed", notice="The session recording cannot be written; ending the session."
            )
            return False
        await self.send_json({"type": "output", "data": data})
        return True

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if self.session_row is None or self.closing or not isinstance(content, dict):
            return
        if content.get("type") != "line" or not isinstance(content.get("data"), str):
            return
        if not await self._still_allowed():  # e.g. the member's sessions were ended: run nothing
            return
        self.last_input = time.monotonic()
        line = content["data"]
        try:
            self.recorder.event("i", line[:4096] + "\r\n")
        except OSError:
            await self._end(
                "recording failed", notice="The session recording cannot be written; ending the session."
            )
            return
        verdict = await self._check(line)
        if isinstance(verdict, str):
            await self._show(f"refused: {verdict}\r\n$ ")
            return
        await self.channel_layer.group_send(
            services.agent_group(self.session_row.agent_id, self.schema),
            {
                "type": "agent.command",
                "payload": {"type": "term_exec", "session": self.session_row.pk, "argv": verdict},
            },
        )

    @tenant_sync
    def _check(self, line: str) -> list[str] | str:
        user = self.scope["user"]
        user.refresh_from_db(fields=["role", "is_active"])
        if not has_perm(user, "terminal.open"):
            return "your role no longer allows the terminal"
        try:
            argv = terminal.command_check(line, terminal.allow_list())
        except terminal.TerminalRefused as exc:
            terminal.terminal_command(
                terminal=self.session_row, actor=user, line=line, argv=None, reason=str(exc)
            )
            return str(exc)
        terminal.terminal_command(terminal=self.session_row, actor=user, line=line, argv=argv, reason="")
        return argv

    @tenant_sync
    def access_allowed(self) -> bool:
        return self.member_allowed()

    async def _still_allowed(self) -> bool:
        """The cheap per-message check (access version, full re-check when it moved); a revoked
        member's socket is closed and the terminal session ends as "access revoked"."""
        if self.closing or not await self.access_still_allowed():
            if self.access_revoked and not self.closing:
                self.closing = True
                await self._finish("access revoked")
            return False
        return True

    async def terminal_output(self, event: dict) -> None:
        if not await self._still_allowed():
            return
        payload = event["payload"]
        if payload.get("type") == "term_out":
            await self._show(str(payload.get("data", "")))
        elif payload.get("type") == "term_exit":
            await self._show(f"[exit {payload.get('code')}]\r\n$ ")

    async def _idle_watch(self) -> None:
        limit = conf.get("DEPLOY_TERMINAL_IDLE_SECONDS")
        while True:
            await asyncio.sleep(min(limit / 4, 30))
            if time.monotonic() - self.last_input > limit:
                await self._end("idle", notice=f"Idle for {int(limit)} seconds; session closed.")
                return

    async def _end(self, reason: str, *, notice: str = "") -> None:
        if self.closing:
            return
        self.closing = True
        if notice:
            await self.send_json({"type": "error", "message": notice})
        await self._finish(reason)
        await self.close(code=4000)

    async def _finish(self, reason: str) -> None:
        if self.session_row is None or self.session_row.ended_at is not None:
            return
        row, user, spool = self.session_row, self.scope["user"], self.recorder.path
        await run_in_tenant(
            self.scope["tenant"],
            terminal.terminal_close,
            terminal=row,
            actor=user,
            reason=reason,
            spool=spool,
        )

    async def disconnect(self, code: int) -> None:
        if self.session_row is not None:
            self.idle.cancel()
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self._finish("closed")


def _denied(exc: Exception) -> str:
    from django.core.exceptions import PermissionDenied

    if isinstance(exc, PermissionDenied):
        return str(exc) or "Your role does not allow the terminal."
    return "The terminal could not be opened."

"""Web terminal rules and records: what an operator may type, and the session's recording.

Input is a line, split like a shell would split words (`shlex`) but never given to a
shell: the agent runs it as an argument list. Anything that only means something to a
shell (`;`, `|`, `&`, `$()`, backticks, redirects), a program not on the tenant's
allow-list, a path that leaves the working directory, or a huge paste is refused.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from compliance import audit, policies
from deployments import conf
from deployments.models import Agent, TerminalAllowedCommand, TerminalSession
from tenants.members.mfa import step_up_fresh
from tenants.members.permissions import authorize

SHELL_SYNTAX = set(";|&$`<>\\\n\r\x00")


class TerminalRefused(Exception):
    pass


def command_check(line: str, allowed: set[str]) -> list[str]:
    """The argument list for `line`, or TerminalRefused with the reason."""
    if len(line) > conf.get("DEPLOY_TERMINAL_MAX_INPUT"):
        raise TerminalRefused(f"input longer than {conf.get('DEPLOY_TERMINAL_MAX_INPUT')} characters refused")
    found = sorted(SHELL_SYNTAX & set(line))
    if found:
        shown = " ".join(repr(ch)[1:-1] for ch in found)
        raise TerminalRefused(f"shell syntax is not allowed here ({shown}); commands run without a shell")
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise TerminalRefused(f"cannot parse: {exc}") from exc
    if not argv:
        raise TerminalRefused("empty command")
    if argv[0] not in allowed:
        raise TerminalRefused(f"{argv[0]} is not on this tenant's allow-list")
    for arg in argv[1:]:
        if arg.startswith(("/", "~")) or ".." in arg.replace("\\", "/").split("/"):
            raise TerminalRefused(f"{arg}: paths outside the working directory are not allowed")
    return argv


def allow_list() -> set[str]:
    return set(TerminalAllowedCommand.objects.values_list("program", flat=True))


@transaction.atomic
def terminal_open(*, agent_id: int, actor: Any, session: Any) -> TerminalSession:
    authorize(actor, "terminal.open")
    if not step_up_fresh(session):
        raise TerminalRefused("Confirm with your authenticator (step-up MFA) before opening a terminal.")
    agent = Agent.objects.filter(pk=agent_id, revoked_at__isnull=True).first()
    if agent is None:
        raise TerminalRefused("No such agent.")
    policies.evaluate("terminal.open", {"actor": actor, "agent": agent.name}).raise_if_blocked()
    terminal = TerminalSession.objects.create(agent=agent, user=actor)
    audit.record(
        action="deployments.terminal.opened", actor=actor, target=terminal, payload={"agent": agent.pk}
    )
    return terminal


@transaction.atomic
def terminal_command(
    *, terminal: TerminalSession, actor: Any, line: str, argv: list[str] | None, reason: str
) -> None:
    """Audit one command: run (with its argv) or refused (with the reason)."""
    if argv is not None:
        policies.evaluate("terminal.command", {"actor": actor, "argv": argv}).raise_if_blocked()
        TerminalSession.objects.filter(pk=terminal.pk).update(commands_run=terminal.commands_run + 1)
        terminal.commands_run += 1
        audit.record(
            action="deployments.terminal.command", actor=actor, target=terminal, payload={"argv": argv}
        )
    else:
        terminal.commands_refused += 1
        TerminalSession.objects.filter(pk=terminal.pk).update(commands_refused=terminal.commands_refused)
        audit.record(
            action="deployments.terminal.refused",
            actor=actor,
            target=terminal,
            payload={"input": line[:200], "reason": reason},
        )


@transaction.atomic
def terminal_close(
    *, terminal: TerminalSession, actor: Any, reason: str, spool: Path | None
) -> TerminalSession:
    """Store the recording (tenant storage) and put its hash into the audit chain."""
    name, digest = "", ""
    if spool is not None and spool.exists():
        data = spool.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        name = default_storage.save(f"terminal/session-{terminal.pk}.cast", ContentFile(data))
        spool.unlink(missing_ok=True)
    terminal.ended_at, terminal.end_reason = timezone.now(), reason[:64]
    terminal.recording, terminal.recording_sha256 = name, digest
    terminal.save(update_fields=["ended_at", "end_reason", "recording", "recording_sha256"])
    audit.record(
        action="deployments.terminal.closed",
        actor=actor,
        target=terminal,
        payload={"reason": reason, "recording": name, "recording_sha256": digest},
    )
    return terminal


class Recorder:
    """asciicast v2, appended to a spool file while the session lasts."""

    def __init__(self, session_id: int, *, width: int = 120, height: int = 32) -> None:
        base = conf.get("DEPLOY_TERMINAL_SPOOL_DIR") or (Path(settings.MEDIA_ROOT) / "_terminal_spool")
        directory = Path(base) / connection.schema_name
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"session-{session_id}.cast"
        self.started = time.monotonic()
        header = {"version": 2, "width": width, "height": height, "timestamp": int(time.time())}
        self.path.write_text(json.dumps(header) + "\n")

    def event(self, kind: str, data: str) -> None:
        """Raises OSError when the recording cannot be written (the session must then end)."""
        with self.path.open("a") as handle:
            handle.write(json.dumps([round(time.monotonic() - self.started, 6), kind, data]) + "\n")

"""Policy engine entry point: `policies.evaluate(action, context)`.

Services call this before acting, e.g.
    decision = policies.evaluate("deploy.run", {"environment": "production", "actor": user, ...})
    decision.raise_if_blocked()

Actions and the context keys the built-in templates read (any extra key may be used by a
tenant's own policies; `actor` is always the acting user or None):

    deploy.run        environment (name), is_production, release, kind; for the built-in
                      templates also approvals_required (int), release_signed; and where
                      the run would start (at the request without an approval gate, else
                      when the gate's last approval arrives) approvals (int) and approved
    deploy.migrate    environment, is_production, release, kind, run (id), backup_exists,
                      backup_key (storage name of the pre-deploy backup), backup_step
                      (the agent's backup step state); evaluated by the portal when the
                      agent asks, just before it runs the release's migrate command
    terminal.open     environment
    terminal.command  environment, command (argument list or string)
    vault.reveal      environment, secret, reason
    vault.write       environment, secret (its rotation_policy is read)
    member.role_change  member, role
    member.login      member

The engine lives in compliance.governance (policies stored per tenant, 8 built-in
templates). A match is recorded as a PolicyViolation and a `policy.violation` audit event,
even when the caller's transaction rolls back because the action was blocked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied

ACTIONS = (
    "deploy.run",
    "deploy.migrate",
    "terminal.open",
    "terminal.command",
    "vault.reveal",
    "vault.write",
    "member.role_change",
    "member.login",
)


class PolicyViolation(PermissionDenied):
    def __init__(self, decision: Decision) -> None:
        self.decision = decision
        super().__init__("; ".join(decision.messages) or "Blocked by policy.")


@dataclass
class Decision:
    action: str
    blocked: bool = False
    warnings: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    matched: list[Any] = field(default_factory=list)

    def raise_if_blocked(self) -> None:
        if self.blocked:
            raise PolicyViolation(self)


def evaluate(action: str, context: dict[str, Any]) -> Decision:
    from compliance.governance.engine import evaluate as engine_evaluate

    return engine_evaluate(action, context)

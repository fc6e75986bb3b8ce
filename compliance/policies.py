"""Policy engine entry point: `policies.evaluate(action, context)`.

Services call this before acting, e.g.
    decision = policies.evaluate("deploy.run", {"environment": "production", "actor": user, ...})
    decision.raise_if_blocked()

Actions: "deploy.run", "deploy.migrate", "terminal.command", "terminal.open", "vault.reveal",
"vault.write", "member.role_change", "member.login". The engine itself lives in
compliance.governance (policies stored per tenant, 8 built-in templates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied


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

"""Policy evaluation (owned by the governance module; see compliance/policies.py)."""

from __future__ import annotations

from typing import Any

from compliance.policies import Decision


def evaluate(action: str, context: dict[str, Any]) -> Decision:
    # Until tenant policies are stored, nothing matches: every action is allowed.
    return Decision(action=action)

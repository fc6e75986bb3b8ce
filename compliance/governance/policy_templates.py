"""The 8 built-in policy templates. A tenant installs one as an ordinary, editable Policy.

The context keys each action provides are listed in `compliance.policies`. Templates that
read a fact only some callers provide (approvals_required, approved, release_signed,
backup_exists) match only when the caller states it, so installing one never blocks every
action of a caller that does not know the key yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PolicyTemplate:
    key: str
    name: str
    description: str
    applies_to: tuple[str, ...]
    conditions: dict[str, Any]
    action: str = "block"


# Callers give either `is_production` or an environment name (vault uses "production"/"prod").
PRODUCTION = {
    "any": [
        {"field": "is_production", "op": "eq", "value": True},
        {"field": "environment", "op": "in", "value": ["production", "prod"]},
    ]
}

TEMPLATES: tuple[PolicyTemplate, ...] = (
    PolicyTemplate(
        key="prod_deploy_requires_approval",
        name="Production deploy requires approval",
        description=(
            "A deploy to production must go through approval by a second person. To require more "
            "approvals, raise the value of the 'approvals lt 1' condition."
        ),
        applies_to=("deploy.run",),
        conditions={
            "all": [
                PRODUCTION,
                {
                    "any": [
                        {"field": "approvals_required", "op": "eq", "value": 0},
                        {"field": "approved", "op": "eq", "value": False},
                        # `approvals` is stated where the run would start (see deployments.pipeline).
                        {"field": "approvals", "op": "lt", "value": 1},
                    ]
                },
            ]
        },
    ),
    PolicyTemplate(
        key="no_friday_afternoon_deploys",
        name="No deploy on Friday after 16:00",
        description="No deploys on Friday from 16:00 tenant-local time (or in the conditions' timezone).",
        applies_to=("deploy.run",),
        conditions={
            "all": [
                {"field": "now.weekday", "op": "eq", "value": "friday"},
                {"field": "now.time", "op": "gte", "value": "16:00"},
            ],
        },
    ),
    PolicyTemplate(
        key="secrets_must_rotate",
        name="Secrets must have rotation",
        description="Every secret written to the vault must have a rotation period.",
        applies_to=("vault.write",),
        conditions={
            "any": [
                {"field": "secret.rotation_policy", "op": "in", "value": ["none", ""]},
                {"field": "rotation_days", "op": "eq", "value": 0},
            ]
        },
    ),
    PolicyTemplate(
        key="operators_need_mfa",
        name="MFA required for operators",
        description="Members with the operator role must have a confirmed authenticator.",
        applies_to=("deploy.run", "deploy.migrate", "terminal.open", "vault.reveal", "member.login"),
        conditions={
            "all": [
                {"field": "actor.role", "op": "eq", "value": "operator"},
                {"field": "actor.has_mfa", "op": "falsy"},
            ]
        },
    ),
    PolicyTemplate(
        key="terminal_allow_list",
        name="Terminal commands limited to the allow-list",
        description="Only the listed programs may run in a terminal session.",
        applies_to=("terminal.command",),
        conditions={
            "all": [
                {
                    "field": "command.program",
                    "op": "not_in",
                    "value": [
                        "ls",
                        "cat",
                        "tail",
                        "head",
                        "grep",
                        "df",
                        "du",
                        "ps",
                        "top",
                        "uptime",
                        "systemctl",
                        "journalctl",
                    ],
                }
            ]
        },
    ),
    PolicyTemplate(
        key="no_prod_reveal_by_developers",
        name="No reveal of production secrets by developers",
        description="Developers may not reveal secrets of the production environment.",
        applies_to=("vault.reveal",),
        conditions={"all": [PRODUCTION, {"field": "actor.role", "op": "eq", "value": "developer"}]},
    ),
    PolicyTemplate(
        key="release_must_be_signed",
        name="Release must be signed",
        description="Only signed releases may be deployed.",
        applies_to=("deploy.run",),
        conditions={"all": [{"field": "release_signed", "op": "eq", "value": False}]},
    ),
    PolicyTemplate(
        key="backup_before_migrate",
        name="Backup must exist before migrate",
        description="A database migration needs a backup taken before it.",
        applies_to=("deploy.migrate",),
        conditions={"all": [{"field": "backup_exists", "op": "eq", "value": False}]},
    ),
)
BY_KEY = {t.key: t for t in TEMPLATES}

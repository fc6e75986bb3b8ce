"""Policy evaluation (the engine behind `compliance.policies.evaluate`).

Enabled policies are cached per tenant in each process (`portal.invalidation.LocalCache`,
keyed by schema), so an evaluation costs no round trip. The policy services invalidate it:
every process drops it when the change commits, and the entries expire after
`GOVERNANCE_POLICY_CACHE_SECONDS` (5 s) while a process is cut off from Redis. Inside the
transaction that changed a policy, the cache is bypassed (that change is not committed).

Each match is stored as a PolicyViolation plus a `policy.violation` audit event, in the
caller's transaction.

A *blocked* action usually rolls that transaction back (the service raises), which would
erase the evidence of the attempt. So every match made inside a transaction is also kept in
a per-thread list; `flush_rolled_back()` (run when the request or Celery task ends) writes
again those whose row did not survive, in a transaction of their own. The `uid` makes the
replay idempotent.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.policies import Decision
from portal.invalidation import LocalCache

_DIRTY_FLAG = "_governance_policies_dirty"
_SECRET_HINTS = ("password", "secret_value", "plaintext", "token", "value", "key_material")
_local = threading.local()
log = logging.getLogger(__name__)
cache = LocalCache("governance-policies", seconds=lambda: settings.GOVERNANCE_POLICY_CACHE_SECONDS)


@dataclass(frozen=True)
class LoadedPolicy:
    id: int
    name: str
    description: str
    applies_to: tuple[str, ...]
    conditions: dict[str, Any]
    action: str

    def applies(self, action: str) -> bool:
        return any(action == p or fnmatch.fnmatchcase(action, p) for p in self.applies_to)


def _tenant_schema() -> str:
    return getattr(connection, "schema_name", "public") or "public"


def policies_changed() -> None:
    """Called by the policy services: drop the cache now, and in every process once the change
    commits; until then this connection reads its own uncommitted policies."""
    setattr(connection, _DIRTY_FLAG, True)
    cache.invalidate()


def _load() -> tuple[LoadedPolicy, ...]:
    from compliance.governance.models import Policy

    rows = (
        Policy.objects.filter(enabled=True)
        .order_by("id")
        .values("id", "name", "description", "applies_to", "conditions", "action")
    )
    return tuple(LoadedPolicy(**{**r, "applies_to": tuple(r["applies_to"] or ())}) for r in rows)


def load_enabled_policies() -> tuple[LoadedPolicy, ...]:
    dirty = getattr(connection, _DIRTY_FLAG, False)
    if dirty and not connection.in_atomic_block:
        setattr(connection, _DIRTY_FLAG, False)
        dirty = False
    if dirty:
        return _load()
    return cache.get(_tenant_schema(), _load)


def evaluate(action: str, context: dict[str, Any]) -> Decision:
    from compliance.governance.conditions import policy_matches

    decision = Decision(action=action)
    if _tenant_schema() == "public":
        return decision  # policies are per tenant; operator actions have none
    for policy in load_enabled_policies():
        if not policy.applies(action):
            continue
        try:
            hit = policy_matches(policy.conditions, context)
        except Exception:  # a stored policy that cannot be evaluated must not take the portal down
            hit = False
        if not hit:
            continue
        message = f"{policy.name}: {policy.description}" if policy.description else policy.name
        entry = _entry(policy, action, message, context)
        _write(entry)
        if connection.in_atomic_block:
            _pending().append((_tenant_schema(), entry))
        decision.matched.append({"policy": policy.name, "outcome": policy.action, "uid": entry["uid"]})
        if policy.action == "block":
            decision.blocked = True
            decision.messages.append(message)
        elif policy.action == "warn":
            decision.warnings.append(message)
    return decision


def _entry(policy: LoadedPolicy, action: str, message: str, context: dict[str, Any]) -> dict[str, Any]:
    from compliance.audit import describe_actor

    actor = context.get("actor")
    _, actor_id, actor_label = describe_actor(actor) if actor is not None else ("", "", "")
    return {
        "uid": str(uuid.uuid4()),
        "policy_id_ref": policy.id,
        "policy_name": policy.name,
        "action": action,
        "outcome": policy.action,
        "message": message[:400],
        "actor_id": actor_id,
        "actor_label": actor_label,
        "context": context_snapshot(context),
        "occurred_at": timezone.now().isoformat(),
        "actor": actor,
    }


def context_snapshot(context: dict[str, Any]) -> dict[str, Any]:
    """A JSON-safe, secret-free copy of the context for the violation row and the audit payload."""
    snap: dict[str, Any] = {}
    for key, value in list(context.items())[:30]:
        if key == "actor" or any(h in key.lower() for h in _SECRET_HINTS):
            continue
        if isinstance(value, bool | int | float) or value is None:
            snap[key] = value
        elif isinstance(value, list | tuple):
            snap[key] = [str(v)[:200] for v in value[:20]]
        else:
            snap[key] = str(value)[:200]
    return snap


def _write(entry: dict[str, Any]) -> None:
    from compliance import audit
    from compliance.governance.models import PolicyViolation

    with transaction.atomic():
        fields = {k: v for k, v in entry.items() if k not in ("actor", "occurred_at")}
        violation = PolicyViolation.objects.create(**fields, occurred_at=entry["occurred_at"])
        audit.record(
            action="policy.violation",
            actor=entry["actor"],
            target=violation,
            payload={
                "policy": entry["policy_name"],
                "evaluated_action": entry["action"],
                "outcome": entry["outcome"],
                "context": entry["context"],
            },
        )


def _pending() -> list[tuple[str, dict[str, Any]]]:
    if not hasattr(_local, "pending"):
        _local.pending = []
    return _local.pending


def flush_rolled_back(**_: Any) -> int:
    """Re-write the violations whose caller rolled back. Returns how many were replayed."""
    from compliance.governance.models import PolicyViolation

    pending = _pending()
    if not pending:
        return 0
    replayed = 0
    items, pending[:] = list(pending), []
    for schema, entry in items:
        try:
            with schema_context(schema):
                if PolicyViolation.objects.filter(uid=entry["uid"]).exists():
                    continue
                _write(entry)
                replayed += 1
        except Exception:  # runs as the response closes: log, never break the request
            log.exception("could not replay policy violation %s in %s", entry.get("uid"), schema)
    return replayed

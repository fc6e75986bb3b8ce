"""Reads for alerts, including the few facts the rules need from deployments and the vault.

The rule evaluators only see these small functions, so the other apps' models can change
shape without touching the evaluators. Each one returns plain dicts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.apps import apps
from django.db.models import Prefetch, QuerySet

from deployments.alerts.models import AlertChannel, AlertDelivery, AlertEvent, AlertRule

HEARTBEAT_SECONDS = 10
MISSED_HEARTBEATS = 3
LOG_SCAN_LIMIT = 5000  # chunks per evaluation: bounded work however noisy the logs are


def _model(label: str, name: str) -> Any | None:
    try:
        return apps.get_model(label, name)
    except LookupError:
        return None


def agents_offline(*, now: datetime) -> list[dict[str, Any]]:
    """Agents marked offline, or silent for 3 heartbeats; revoked agents are not alerts."""
    Agent = _model("deployments", "Agent")
    if Agent is None:
        return []
    stale = now - timedelta(seconds=HEARTBEAT_SECONDS * MISSED_HEARTBEATS)
    rows = Agent.objects.exclude(status="revoked").filter(revoked_at=None).order_by("id")
    found = []
    for agent in rows.only("id", "name", "status", "last_seen"):
        if agent.status == "offline" or agent.last_seen is None or agent.last_seen < stale:
            found.append(
                {
                    "subject": f"agent:{agent.pk}",
                    "summary": f"Agent {agent.name} is offline",
                    "last_seen": agent.last_seen.isoformat() if agent.last_seen else None,
                }
            )
    return found


def deploy_runs_ended(*, statuses: tuple[str, ...], since: datetime, until: datetime) -> list[dict[str, Any]]:
    DeployRun = _model("deployments", "DeployRun")
    if DeployRun is None:
        return []
    runs = (
        DeployRun.objects.filter(status__in=statuses, finished_at__gt=since, finished_at__lte=until)
        .select_related("environment", "release")
        .order_by("finished_at", "id")[:100]
    )
    return [
        {
            "subject": f"run:{run.pk}",
            "summary": f"Deploy run #{run.pk} of {run.release} to {run.environment}: {run.status}",
            "status": run.status,
            "error": (run.error or "")[:300],
        }
        for run in runs
    ]


def rollback_runs(*, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Automatic rollbacks (a run ending rolled_back) and manual rollback runs that finished."""
    DeployRun = _model("deployments", "DeployRun")
    if DeployRun is None:
        return []
    from django.db.models import Q

    runs = (
        DeployRun.objects.filter(finished_at__gt=since, finished_at__lte=until)
        .filter(Q(status="rolled_back") | Q(kind="rollback", status="succeeded"))
        .select_related("environment", "release")
        .order_by("finished_at", "id")[:100]
    )
    return [
        {
            "subject": f"run:{run.pk}",
            "summary": f"Rollback on {run.environment}: run #{run.pk} ({run.release}) {run.status}",
            "status": run.status,
        }
        for run in runs
    ]


def secrets_expiring(*, now: datetime, within: timedelta) -> list[dict[str, Any]]:
    """Secrets and certificates whose rotation is due within `within` (or overdue)."""
    Secret = _model("vault", "Secret")
    if Secret is None:
        return []
    found = []
    rows = Secret.objects.filter(deleted_at=None).exclude(rotation_policy="none").order_by("name")
    for secret in rows:
        due = getattr(secret, "rotation_due_at", None)
        if due is not None and due <= now + within:
            is_cert = secret.secret_type == "certificate"  # noqa: S105 - a type name
            kind = "Certificate" if is_cert else "Secret"
            found.append(
                {
                    "subject": f"secret:{secret.pk}",
                    "summary": f"{kind} {secret.name} expires {due:%Y-%m-%d %H:%M} UTC",
                    "due": due.isoformat(),
                }
            )
    return found


def log_keyword_hits(*, keyword: str, since: datetime, until: datetime) -> dict[str, Any]:
    """Lines containing `keyword` (case-insensitive) received in the window, per agent."""
    LogChunk = _model("deployments", "LogChunk")
    if LogChunk is None or not keyword:
        return {"count": 0, "agents": {}, "sample": ""}
    needle = keyword.lower()
    chunks = (
        LogChunk.objects.filter(received_at__gt=since, received_at__lte=until)
        .select_related("agent")
        .order_by("id")[:LOG_SCAN_LIMIT]
    )
    count, sample = 0, ""
    per_agent: dict[str, int] = {}
    for chunk in chunks:
        for line in chunk.lines or []:
            text = str(line[-1]) if isinstance(line, list | tuple) and line else str(line)
            level = str(line[1]) if isinstance(line, list | tuple) and len(line) > 2 else ""
            if needle in text.lower() or needle == level.lower():
                count += 1
                name = str(chunk.agent)
                per_agent[name] = per_agent.get(name, 0) + 1
                sample = sample or text[:200]
    return {"count": count, "agents": per_agent, "sample": sample}


# --- Alerts' own reads ----------------------------------------------------------------------
def rules_due() -> QuerySet[AlertRule]:
    return AlertRule.objects.filter(is_active=True).prefetch_related(
        Prefetch("channels", queryset=AlertChannel.objects.filter(is_active=True))
    )


def events_recent(limit: int = 50) -> QuerySet[AlertEvent]:
    return AlertEvent.objects.prefetch_related("deliveries").order_by("-fired_at", "-id")[:limit]


def deliveries_of(event: AlertEvent) -> QuerySet[AlertDelivery]:
    return event.deliveries.select_related("channel").order_by("id")

"""Reads of the audit app. The governance app reads evidence through these.

- `chain_status()`        → head, last checkpoint, pending count, retention (cheap; no verify)
- `chain_verify_latest()` → verify now (full) and return the result dict
- `audit_events(...)`     → filtered events, newest first, keyset-paginated
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from compliance.models import AuditCheckpoint, AuditEvent, AuditExport, AuditForwarder, AuditSettings

EVENT_FILTERS = ("actor", "action", "target", "since", "until", "q")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def plan_retention_cap() -> int:
    """The plan's `audit_retention_days` (365 for the public chain / no plan)."""
    tenant = getattr(connection, "tenant", None)
    plan = getattr(tenant, "plan", None) if tenant is not None else None
    cap = getattr(plan, "audit_retention_days", None)
    return int(cap) if cap else 365


def audit_settings() -> AuditSettings:
    current = AuditSettings.objects.order_by("id").first()
    if current is None:
        current = AuditSettings.objects.create(retention_days=min(max(30, plan_retention_cap()), 365))
    return current


def _when(value: Any, name: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    parsed = parse_datetime(str(value)) if value else None
    if parsed is None:
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationError({name: [f"Not a date/time: {value!r} (use ISO 8601)."]}) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def clean_filters(params: Any, *, allow: tuple[str, ...] = ()) -> dict[str, Any]:
    """Validate query parameters; unknown names are an error, never silently ignored."""
    known = set(EVENT_FILTERS) | set(allow)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValidationError(
            {"filters": [f"Unknown filter(s): {', '.join(unknown)}. Known: {', '.join(EVENT_FILTERS)}."]}
        )
    cleaned: dict[str, Any] = {}
    for name in EVENT_FILTERS:
        value = params.get(name)
        if value in (None, ""):
            continue
        cleaned[name] = _when(value, name) if name in ("since", "until") else str(value)[:200]
    return cleaned


def filter_q(filters: dict[str, Any]) -> Q:
    q = Q()
    if actor := filters.get("actor"):
        q &= Q(actor_id=actor) | Q(actor_label__icontains=actor)
    if action := filters.get("action"):
        q &= Q(action=action) | Q(action__startswith=action.rstrip("*").rstrip(".") + ".")
    if target := filters.get("target"):
        kind, _, ident = target.partition(":")
        q &= (Q(target_type=kind, target_id=ident) if ident else Q(target_type=kind)) | Q(
            target_label__icontains=target
        )
    if since := filters.get("since"):
        q &= Q(occurred_at__gte=_when(since, "since"))
    if until := filters.get("until"):
        q &= Q(occurred_at__lt=_when(until, "until"))
    if text := filters.get("q"):
        q &= (
            Q(action__icontains=text)
            | Q(actor_label__icontains=text)
            | Q(target_label__icontains=text)
            | Q(payload__icontains=text)
        )
    return q


def filter_sql(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """The same filters as raw SQL (for the streaming exporter)."""
    where: list[str] = []
    params: list[Any] = []
    if actor := filters.get("actor"):
        where.append("(actor_id = %s OR actor_label ILIKE %s)")
        params += [actor, f"%{actor}%"]
    if action := filters.get("action"):
        where.append("(action = %s OR action LIKE %s)")
        params += [action, action.rstrip("*").rstrip(".") + ".%"]
    if target := filters.get("target"):
        kind, _, ident = target.partition(":")
        where.append("((target_type = %s AND (%s = '' OR target_id = %s)) OR target_label ILIKE %s)")
        params += [kind, ident, ident, f"%{target}%"]
    if since := filters.get("since"):
        where.append("occurred_at >= %s")
        params.append(_when(since, "since"))
    if until := filters.get("until"):
        where.append("occurred_at < %s")
        params.append(_when(until, "until"))
    if text := filters.get("q"):
        where.append(
            "(action ILIKE %s OR actor_label ILIKE %s OR target_label ILIKE %s OR payload::text ILIKE %s)"
        )
        params += [f"%{text}%"] * 4
    return " AND ".join(where), params


@dataclass
class Page:
    events: list[AuditEvent]
    next_before: int | None


def audit_events(
    *, filters: dict[str, Any] | None = None, before: int | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Newest first; keyset pagination on id (`before` = the last id of the previous page)."""
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    queryset: QuerySet[AuditEvent] = AuditEvent.objects.filter(filter_q(filters or {}))
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    rows = list(queryset.order_by("-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(events=mask_erased(rows), next_before=rows[-1].id if more and rows else None)


def audit_event(*, pk: int) -> AuditEvent:
    return mask_erased([AuditEvent.objects.get(pk=pk)])[0]


def mask_erased(events: list[AuditEvent]) -> list[AuditEvent]:
    """Show erased data subjects by their alias (GDPR erasure), in memory only.

    The chain hashes the personal columns, so erasure cannot blank the stored rows; readers
    (viewer, API) show the alias instead. Signed exports keep the stored values, because an
    outside auditor must be able to re-hash them.
    """
    if connection.schema_name == "public" or not events:
        return events
    from compliance.governance.selectors import audit_mask, erased_aliases

    aliases = erased_aliases()
    if aliases:
        for event in events:
            for field, value in audit_mask(event, aliases).items():
                setattr(event, field, value)
    return events


def chain_status() -> dict[str, Any]:
    """Cheap summary of the current schema's chain (for dashboards and report evidence)."""
    from compliance.chain import table

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(seq), max(chained_at) FROM {table()}")
        head_seq, last_chained = cursor.fetchone()
        cursor.execute(f"SELECT count(*), min(occurred_at) FROM {table()} WHERE hash IS NULL")
        pending, oldest_pending = cursor.fetchone()
    last = AuditCheckpoint.objects.order_by("-seq", "-id").first()
    return {
        "head_seq": head_seq or 0,
        "last_chained_at": last_chained,
        "pending": pending,
        "oldest_pending_at": oldest_pending,
        "last_checkpoint_seq": last.seq if last else None,
        "last_checkpoint_at": last.signed_at if last else None,
        "retention_days": audit_settings().retention_days,
        "plan_retention_cap": plan_retention_cap(),
        "failing_forwarders": AuditForwarder.objects.filter(is_active=True, failures__gt=0).count(),
    }


def chain_verify_latest() -> dict[str, Any]:
    """Verify the chain now (what `audit_verify` does) and return the result as a dict."""
    from compliance.verification import audit_chain_verify

    return audit_chain_verify().as_dict()


def checkpoints_recent(limit: int = 50) -> QuerySet[AuditCheckpoint]:
    return AuditCheckpoint.objects.order_by("-seq", "-id")[:limit]


def exports_recent(limit: int = 50) -> QuerySet[AuditExport]:
    return AuditExport.objects.order_by("-id")[:limit]


def forwarders() -> QuerySet[AuditForwarder]:
    return AuditForwarder.objects.order_by("name", "id")

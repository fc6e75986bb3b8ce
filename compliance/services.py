"""Compliance (audit) services: every state change of the audit app goes through here.

Keyword-only, atomic, audited. Heavy work (exports, forwarding, pruning) runs in Celery
tasks that services enqueue with `transaction.on_commit`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from compliance import audit, checkpoints
from compliance.models import AuditCheckpoint, AuditExport, AuditForwarder, AuditSettings
from compliance.selectors import EVENT_FILTERS, audit_settings, plan_retention_cap
from compliance.verification import VerifyResult, audit_chain_verify
from tenants.members.permissions import authorize

RETENTION_MIN_DAYS = 30
RETENTION_MAX_DAYS = 365
EXPORT_MAX_DAYS = 3660  # ten years: anything is streamed, this only catches typos


def _authorize(actor: Any, permission: str) -> None:
    # Operators (public schema) act on the public chain; members need the role permission.
    if actor is None or (connection.schema_name == "public" and getattr(actor, "is_staff", False)):
        return
    authorize(actor, permission)


def checkpoint_sign(*, actor: Any) -> AuditCheckpoint:
    _authorize(actor, "audit.export")
    checkpoint = checkpoints.checkpoint_create(kind=AuditCheckpoint.Kind.ON_DEMAND)
    audit.record(
        action="audit.checkpoint.sign",
        actor=actor,
        target=checkpoint,
        payload={"seq": checkpoint.seq, "hash": checkpoint.hash},
    )
    return checkpoint


def chain_verify(*, actor: Any, from_last_checkpoint: bool = False) -> VerifyResult:
    """Verify the current chain; the verification itself is audited (after the fact)."""
    _authorize(actor, "audit.read")
    result = audit_chain_verify(from_last_checkpoint=from_last_checkpoint)
    with transaction.atomic():
        audit.record(
            action="audit.chain.verify",
            actor=actor,
            payload={"ok": result.ok, "first_bad_seq": result.first_bad_seq, "head_seq": result.head_seq},
        )
    return result


@transaction.atomic
def retention_set(*, actor: Any, days: int) -> AuditSettings:
    _authorize(actor, "audit.export")
    cap = plan_retention_cap()
    if not isinstance(days, int) or isinstance(days, bool):
        raise ValidationError({"retention_days": ["Retention must be a whole number of days."]})
    if not RETENTION_MIN_DAYS <= days <= RETENTION_MAX_DAYS:
        raise ValidationError(
            {
                "retention_days": [
                    f"Retention must be between {RETENTION_MIN_DAYS} and {RETENTION_MAX_DAYS} days."
                ]
            }
        )
    if days > cap:
        raise ValidationError(
            {
                "retention_days": [
                    f"Your plan keeps audit events for at most {cap} days; upgrade to keep more."
                ]
            }
        )
    current = audit_settings()
    before = current.retention_days
    current.retention_days = days
    current.save()
    audit.record(action="audit.retention.set", actor=actor, payload={"from": before, "to": days})
    return current


def _parse_filters(filters: dict[str, Any] | None) -> dict[str, Any]:
    filters = {key: value for key, value in (filters or {}).items() if value not in (None, "")}
    unknown = sorted(set(filters) - set(EVENT_FILTERS) - {"since", "until"})
    if unknown:
        raise ValidationError(
            {"filters": [f"Unknown filter(s): {', '.join(unknown)}. Known: {', '.join(EVENT_FILTERS)}."]}
        )
    return {key: str(value)[:200] for key, value in filters.items()}


@transaction.atomic
def export_request(
    *, actor: Any, format: str, since: dt.datetime, until: dt.datetime, filters: dict[str, Any] | None = None
) -> AuditExport:
    _authorize(actor, "audit.export")
    if format not in AuditExport.Format.values:
        raise ValidationError(
            {"format": [f"Unknown format {format!r}; use one of {', '.join(AuditExport.Format.values)}."]}
        )
    if since >= until:
        raise ValidationError({"until": ["The end of the range must be after its start."]})
    if until - since > dt.timedelta(days=EXPORT_MAX_DAYS):
        raise ValidationError({"since": [f"A range longer than {EXPORT_MAX_DAYS} days is not allowed."]})
    export = AuditExport.objects.create(
        format=format,
        since=since,
        until=until,
        filters=_parse_filters(filters),
        requested_by=actor if getattr(actor, "pk", None) and connection.schema_name != "public" else None,
    )
    audit.record(
        action="audit.export.request",
        actor=actor,
        target=export,
        payload={
            "format": format,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "filters": export.filters,
        },
    )

    def enqueue() -> None:
        from compliance.tasks import audit_export_build

        audit_export_build.delay(export.pk)

    transaction.on_commit(enqueue)
    return export


FORWARDER_FIELDS = ("name", "kind", "url", "host", "port", "bucket", "prefix", "endpoint_url", "is_active")


def _forwarder_validate(values: dict[str, Any]) -> None:
    kind = values.get("kind")
    errors: dict[str, list[str]] = {}
    if kind not in AuditForwarder.Kind.values:
        errors["kind"] = [f"Unknown kind; use one of {', '.join(AuditForwarder.Kind.values)}."]
    elif kind == AuditForwarder.Kind.WEBHOOK and not str(values.get("url", "")).startswith(
        ("https://", "http://")
    ):
        errors["url"] = ["A webhook needs an http(s) URL."]
    elif kind in (AuditForwarder.Kind.SYSLOG_TCP, AuditForwarder.Kind.SYSLOG_UDP):
        port = values.get("port")
        if not values.get("host") or not isinstance(port, int) or not 0 < port < 65536:
            errors["host"] = ["Syslog needs a host and a port between 1 and 65535."]
    elif kind == AuditForwarder.Kind.S3 and not values.get("bucket"):
        errors["bucket"] = ["S3 forwarding needs a bucket."]
    if not values.get("name"):
        errors["name"] = ["Give the destination a name."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def forwarder_create(*, actor: Any, secret: str = "", **values: Any) -> AuditForwarder:
    from compliance.forwarding import seal

    _authorize(actor, "audit.export")
    values = {key: values[key] for key in FORWARDER_FIELDS if key in values}
    _forwarder_validate(values)
    forwarder = AuditForwarder(**values)
    forwarder.secret_sealed = seal(secret) if secret else ""
    # Start from the current head: forwarding covers events from now on.
    forwarder.last_seq = checkpoints.chain_head().seq
    forwarder.save()
    audit.record(
        action="audit.forwarder.create", actor=actor, target=forwarder, payload={"kind": forwarder.kind}
    )
    return forwarder


@transaction.atomic
def forwarder_update(
    *, actor: Any, forwarder: AuditForwarder, secret: str | None = None, **values: Any
) -> AuditForwarder:
    from compliance.forwarding import seal

    _authorize(actor, "audit.export")
    changed = {key: values[key] for key in FORWARDER_FIELDS if key in values}
    merged = {key: getattr(forwarder, key) for key in FORWARDER_FIELDS} | changed
    _forwarder_validate(merged)
    for key, value in changed.items():
        setattr(forwarder, key, value)
    if secret:
        forwarder.secret_sealed = seal(secret)
    forwarder.save()
    audit.record(
        action="audit.forwarder.update",
        actor=actor,
        target=forwarder,
        payload={"fields": sorted(changed) + (["secret"] if secret else [])},
    )
    return forwarder


@transaction.atomic
def forwarder_delete(*, actor: Any, forwarder: AuditForwarder) -> None:
    _authorize(actor, "audit.export")
    audit.record(
        action="audit.forwarder.delete", actor=actor, target=forwarder, payload={"kind": forwarder.kind}
    )
    forwarder.delete()


@transaction.atomic
def forwarder_retry_now(*, actor: Any, forwarder: AuditForwarder) -> AuditForwarder:
    _authorize(actor, "audit.export")
    forwarder.next_attempt_at = timezone.now()
    forwarder.save(update_fields=["next_attempt_at"])
    audit.record(action="audit.forwarder.retry", actor=actor, target=forwarder)
    pk = forwarder.pk

    def enqueue() -> None:
        from compliance.tasks import audit_forward

        audit_forward.delay(pk)

    transaction.on_commit(enqueue)
    return forwarder

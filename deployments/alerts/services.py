"""Alert writes: channels and rules (by people), evaluation and delivery (by Celery)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import connection, transaction
from django.utils import timezone

from compliance import audit
from deployments.alerts import evaluators, selectors, senders
from deployments.alerts.models import AlertChannel, AlertDelivery, AlertEvent, AlertRule
from tenants.members.permissions import authorize

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 20


# --- Channels ------------------------------------------------------------------------------
def _channel_clean(*, kind: str, recipients: Iterable[str], url: str) -> tuple[list[str], str]:
    if kind not in AlertChannel.Kind.values:
        raise ValidationError({"kind": f"Unknown channel kind {kind!r}."})
    if kind == AlertChannel.Kind.EMAIL:
        cleaned = [r.strip().lower() for r in recipients if r and r.strip()]
        if not cleaned or len(cleaned) > MAX_RECIPIENTS:
            raise ValidationError({"recipients": f"Give 1 to {MAX_RECIPIENTS} email addresses."})
        for address in cleaned:
            try:
                validate_email(address)
            except ValidationError as exc:
                raise ValidationError({"recipients": f"{address} is not an email address."}) from exc
        return sorted(set(cleaned)), ""
    url = (url or "").strip()
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError as exc:
        raise ValidationError({"url": "Give the receiver's http(s) URL."}) from exc
    try:
        senders.url_check(url)
    except senders.DeliveryRefused as exc:
        raise ValidationError({"url": str(exc)}) from exc
    except senders.DeliveryFailed:
        pass  # DNS may be down now; checked again on every delivery
    return [], url


@transaction.atomic
def channel_create(
    *, actor: Any, name: str, kind: str, recipients: Iterable[str] = (), url: str = ""
) -> AlertChannel:
    authorize(actor, "alerts.manage")
    recipients, url = _channel_clean(kind=kind, recipients=recipients, url=url)
    name = name.strip()
    if not name or AlertChannel.objects.filter(name=name).exists():
        raise ValidationError({"name": "Give the channel a unique name."})
    channel = AlertChannel.objects.create(
        name=name, kind=kind, recipients=recipients, url=url, created_by=actor
    )
    audit.record(action="alerts.channel.create", actor=actor, target=channel, payload={"kind": kind})
    return channel


@transaction.atomic
def channel_update(
    *,
    channel: AlertChannel,
    actor: Any,
    name: str | None = None,
    recipients: Iterable[str] | None = None,
    url: str | None = None,
    is_active: bool | None = None,
) -> AlertChannel:
    authorize(actor, "alerts.manage")
    recipients_clean, url_clean = _channel_clean(
        kind=channel.kind,
        recipients=channel.recipients if recipients is None else recipients,
        url=channel.url if url is None else url,
    )
    if name is not None:
        name = name.strip()
        if not name or AlertChannel.objects.filter(name=name).exclude(pk=channel.pk).exists():
            raise ValidationError({"name": "Give the channel a unique name."})
        channel.name = name
    channel.recipients, channel.url = recipients_clean, url_clean
    if is_active is not None:
        channel.is_active = is_active
    channel.save()
    audit.record(action="alerts.channel.update", actor=actor, target=channel)
    return channel


@transaction.atomic
def channel_rotate_secret(*, channel: AlertChannel, actor: Any) -> AlertChannel:
    authorize(actor, "alerts.manage")
    from deployments.alerts.models import _signing_secret

    channel.signing_secret = _signing_secret()
    channel.save(update_fields=["signing_secret"])
    audit.record(action="alerts.channel.rotate_secret", actor=actor, target=channel)
    return channel


@transaction.atomic
def channel_delete(*, channel: AlertChannel, actor: Any) -> None:
    authorize(actor, "alerts.manage")
    audit.record(action="alerts.channel.delete", actor=actor, target=channel)
    channel.delete()


# --- Rules ---------------------------------------------------------------------------------
def params_clean(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Keep known parameters only, with defaults, in bounds."""
    if kind not in evaluators.PARAMS:
        raise ValidationError({"kind": f"Unknown rule kind {kind!r}."})
    given = params or {}
    if not isinstance(given, dict):
        raise ValidationError({"params": "Parameters must be an object."})
    cleaned: dict[str, Any] = {}
    for name, (default, low, high) in evaluators.PARAMS[kind].items():
        value = given.get(name, default)
        if isinstance(default, str):
            value = str(value).strip()
            if not value or len(value) > 100:
                raise ValidationError({"params": f"{name} must be 1–100 characters."})
        else:
            try:
                value = int(value)
            except (TypeError, ValueError) as exc:
                raise ValidationError({"params": f"{name} must be a whole number."}) from exc
            if not low <= value <= high:
                raise ValidationError({"params": f"{name} must be between {low} and {high}."})
        cleaned[name] = value
    return cleaned


def _rule_fields(
    *, kind: str, severity: str, params: dict[str, Any] | None, cooldown_seconds: int
) -> dict[str, Any]:
    if severity not in AlertRule.Severity.values:
        raise ValidationError({"severity": f"Unknown severity {severity!r}."})
    if not 0 <= int(cooldown_seconds) <= 7 * 86400:
        raise ValidationError({"cooldown_seconds": "Cooldown must be between 0 s and 7 days."})
    return {
        "params": params_clean(kind, params),
        "severity": severity,
        "cooldown_seconds": int(cooldown_seconds),
    }


@transaction.atomic
def rule_create(
    *,
    actor: Any,
    name: str,
    kind: str,
    channels: Iterable[AlertChannel] = (),
    severity: str = AlertRule.Severity.WARNING,
    params: dict[str, Any] | None = None,
    cooldown_seconds: int = 900,
    is_active: bool = True,
) -> AlertRule:
    authorize(actor, "alerts.manage")
    name = name.strip()
    if not name or AlertRule.objects.filter(name=name).exists():
        raise ValidationError({"name": "Give the rule a unique name."})
    fields = _rule_fields(kind=kind, severity=severity, params=params, cooldown_seconds=cooldown_seconds)
    rule = AlertRule.objects.create(name=name, kind=kind, is_active=is_active, created_by=actor, **fields)
    rule.channels.set(list(channels))
    audit.record(action="alerts.rule.create", actor=actor, target=rule, payload={"kind": kind, **fields})
    return rule


@transaction.atomic
def rule_update(
    *,
    rule: AlertRule,
    actor: Any,
    name: str | None = None,
    channels: Iterable[AlertChannel] | None = None,
    severity: str | None = None,
    params: dict[str, Any] | None = None,
    cooldown_seconds: int | None = None,
    is_active: bool | None = None,
) -> AlertRule:
    authorize(actor, "alerts.manage")
    if name is not None:
        name = name.strip()
        if not name or AlertRule.objects.filter(name=name).exclude(pk=rule.pk).exists():
            raise ValidationError({"name": "Give the rule a unique name."})
        rule.name = name
    fields = _rule_fields(
        kind=rule.kind,
        severity=rule.severity if severity is None else severity,
        params=rule.params if params is None else params,
        cooldown_seconds=rule.cooldown_seconds if cooldown_seconds is None else cooldown_seconds,
    )
    for key, value in fields.items():
        setattr(rule, key, value)
    if is_active is not None:
        rule.is_active = is_active
    rule.save()
    if channels is not None:
        rule.channels.set(list(channels))
    audit.record(action="alerts.rule.update", actor=actor, target=rule, payload=fields)
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule, actor: Any) -> None:
    authorize(actor, "alerts.manage")
    audit.record(action="alerts.rule.delete", actor=actor, target=rule)
    rule.delete()


# --- Evaluation ------------------------------------------------------------------------------
def rules_evaluate(*, now: datetime | None = None) -> list[AlertEvent]:
    """Evaluate every active rule of the current tenant (the 30 s beat, per tenant)."""
    now = now or timezone.now()
    fired = []
    for rule in selectors.rules_due():
        try:
            event = rule_evaluate(rule=rule, now=now)
        except Exception:  # one broken rule must not silence the others
            log.exception("alert rule %s failed to evaluate", rule.pk)
            continue
        if event is not None:
            fired.append(event)
    return fired


@transaction.atomic
def rule_evaluate(*, rule: AlertRule, now: datetime) -> AlertEvent | None:
    """Fire `rule` if it finds something and is not cooling down; keep history."""
    rule = AlertRule.objects.select_for_update().get(pk=rule.pk)  # one evaluator at a time
    outcome = evaluators.evaluate(rule, now)
    is_event_rule = rule.kind in evaluators.EVENT_KINDS
    rule.last_evaluated_at = now
    if outcome.firing and rule.cooling_down(now):
        # Event rules keep their watermark, so what happened now is reported after the cooldown.
        rule.save(update_fields=["last_evaluated_at"])
        return None
    rule.watermark = now
    if not outcome.firing:
        rule.save(update_fields=["last_evaluated_at", "watermark"])
        return None
    rule.last_fired_at = now
    rule.save(update_fields=["last_evaluated_at", "watermark", "last_fired_at"])
    event = AlertEvent.objects.create(
        rule=rule,
        rule_name=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        title=outcome.title[:300],
        findings=outcome.findings[:100],
        fired_at=now,
    )
    deliveries = AlertDelivery.objects.bulk_create(
        [
            AlertDelivery(event=event, channel=channel, channel_name=channel.name)
            for channel in rule.channels.all()
            if channel.is_active
        ]
    )
    log.info("alert %s fired (%s, event rule: %s)", rule.name, outcome.title, is_event_rule)
    from deployments.alerts import tasks

    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: [tasks.alert_deliver.delay(pk) for pk in ids])
    return event


# --- Delivery --------------------------------------------------------------------------------
def _tenant_slug() -> str:
    tenant = getattr(connection, "tenant", None)
    return getattr(tenant, "slug", "") or str(getattr(connection, "schema_name", ""))


def delivery_attempt(*, delivery: AlertDelivery, final: bool = False) -> AlertDelivery:
    """Send once. Records the attempt; raises DeliveryFailed when a retry should follow."""
    if delivery.status in (AlertDelivery.Status.SENT, AlertDelivery.Status.FAILED):
        return delivery
    delivery.attempts += 1
    delivery.last_attempt_at = timezone.now()
    retry = False
    try:
        code = senders.send(delivery, _tenant_slug())
    except senders.DeliveryRefused as exc:
        delivery.status, delivery.last_error = AlertDelivery.Status.FAILED, str(exc)[:500]
    except senders.DeliveryFailed as exc:
        retry = not final
        delivery.status = AlertDelivery.Status.RETRYING if retry else AlertDelivery.Status.FAILED
        delivery.last_error = str(exc)[:500]
    else:
        delivery.status, delivery.last_error = AlertDelivery.Status.SENT, ""
        delivery.response_code, delivery.sent_at = code or None, timezone.now()
    delivery.save()
    if retry:
        raise senders.DeliveryFailed(delivery.last_error)
    return delivery

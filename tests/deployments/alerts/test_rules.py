"""Rule evaluation: each kind fires on what it should, cooldown holds it back, history is kept.

The facts come from deployments and the vault through `selectors`; here they are replaced by
fixed answers so each rule is tested on its own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django_tenants.utils import tenant_context

from deployments.alerts import evaluators, selectors, services
from deployments.alerts.models import AlertDelivery, AlertEvent, AlertRule

OFFLINE = [{"subject": "agent:7", "summary": "Agent web-7 is offline"}]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Delivery ids queued for sending (on commit)."""
    from deployments.alerts import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.alert_deliver, "delay", queued.append)
    return queued


@pytest.fixture
def mail_channel(acme: Any, alice: Any) -> Any:
    with tenant_context(acme):
        return services.channel_create(
            actor=alice.user(), name="oncall", kind="email", recipients=["oncall@acme.test"]
        )


def _rule(alice: Any, channel: Any, kind: str, **kwargs: Any) -> AlertRule:
    return services.rule_create(
        actor=alice.user(), name=f"rule {kind}", kind=kind, channels=[channel], **kwargs
    )


def test_agent_offline_fires_once_then_cools_down(
    db, acme, alice, mail_channel, monkeypatch, sent, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(selectors, "agents_offline", lambda now: OFFLINE)
    now = timezone.now()
    with tenant_context(acme):
        rule = _rule(alice, mail_channel, "agent_offline", cooldown_seconds=300)
        with django_capture_on_commit_callbacks(execute=True):
            [event] = services.rules_evaluate(now=now)
        assert event.title == "1 agent(s) offline"
        assert event.findings == OFFLINE
        delivery = AlertDelivery.objects.get(event=event)
        assert sent == [delivery.pk]
        # 30 s later: still offline, but cooling down.
        assert services.rules_evaluate(now=now + timedelta(seconds=30)) == []
        # After the cooldown it reminds.
        assert len(services.rules_evaluate(now=now + timedelta(seconds=301))) == 1
        rule.refresh_from_db()
        assert rule.last_fired_at == now + timedelta(seconds=301)
        assert AlertEvent.objects.filter(rule=rule).count() == 2


def test_nothing_wrong_fires_nothing(db, acme, alice, mail_channel, monkeypatch):
    monkeypatch.setattr(selectors, "agents_offline", lambda now: [])
    with tenant_context(acme):
        rule = _rule(alice, mail_channel, "agent_offline")
        assert services.rules_evaluate() == []
        rule.refresh_from_db()
        assert rule.last_evaluated_at is not None
        assert rule.last_fired_at is None


def test_a_deploy_failure_during_the_cooldown_is_reported_after_it(
    db, acme, alice, mail_channel, monkeypatch
):
    windows: list[tuple[Any, Any]] = []

    def runs(statuses: tuple[str, ...], since: Any, until: Any) -> list[dict[str, Any]]:
        windows.append((since, until))
        return [{"subject": f"run:{len(windows)}", "summary": "Deploy run failed"}]

    monkeypatch.setattr(selectors, "deploy_runs_ended", runs)
    now = timezone.now()
    with tenant_context(acme):
        rule = _rule(alice, mail_channel, "deploy_failed", cooldown_seconds=60)
        start = rule.watermark
        assert len(services.rules_evaluate(now=now)) == 1
        assert services.rules_evaluate(now=now + timedelta(seconds=30)) == []  # cooling down
        assert len(services.rules_evaluate(now=now + timedelta(seconds=61))) == 1
    assert windows[0] == (start, now)
    # The window after the cooldown starts where the last firing ended: nothing is lost.
    assert windows[1][0] == now
    assert windows[2] == (now, now + timedelta(seconds=61))


def test_rollback_rule_fires_on_rollbacks(db, acme, alice, mail_channel, monkeypatch):
    found = [{"subject": "run:3", "summary": "Rollback on production: run #3 rolled_back"}]
    monkeypatch.setattr(selectors, "rollback_runs", lambda since, until: found)
    with tenant_context(acme):
        _rule(alice, mail_channel, "rollback", severity="critical")
        [event] = services.rules_evaluate()
    assert (event.kind, event.severity, event.findings) == ("rollback", "critical", found)


def test_expiring_rule_passes_its_horizon(db, acme, alice, mail_channel, monkeypatch):
    seen: list[timedelta] = []

    def expiring(now: Any, within: timedelta) -> list[dict[str, Any]]:
        seen.append(within)
        return [{"subject": "secret:1", "summary": "Certificate tls/web expires soon"}]

    monkeypatch.setattr(selectors, "secrets_expiring", expiring)
    with tenant_context(acme):
        _rule(alice, mail_channel, "expiring", params={"days": 30})
        [event] = services.rules_evaluate()
    assert seen == [timedelta(days=30)]
    assert "within 30 days" in event.title


@pytest.mark.parametrize(("count", "fires"), [(4, False), (5, True)])
def test_log_keyword_rule_fires_at_its_threshold(db, acme, alice, mail_channel, monkeypatch, count, fires):
    monkeypatch.setattr(
        selectors,
        "log_keyword_hits",
        lambda keyword, since, until: {"count": count, "agents": {"web-1": count}, "sample": "ERROR boom"},
    )
    with tenant_context(acme):
        _rule(
            alice,
            mail_channel,
            "log_keyword",
            params={"keyword": "ERROR", "threshold": 5, "window_minutes": 2},
        )
        events = services.rules_evaluate()
    assert bool(events) is fires


def test_one_broken_rule_does_not_silence_the_others(db, acme, alice, mail_channel, monkeypatch):
    def broken(now: Any) -> list[dict[str, Any]]:
        raise RuntimeError("selector exploded")

    monkeypatch.setattr(selectors, "agents_offline", broken)
    monkeypatch.setattr(
        selectors, "rollback_runs", lambda since, until: [{"subject": "run:1", "summary": "x"}]
    )
    with tenant_context(acme):
        _rule(alice, mail_channel, "agent_offline")
        _rule(alice, mail_channel, "rollback")
        events = services.rules_evaluate()
    assert [event.kind for event in events] == ["rollback"]


def test_parameters_are_validated(db, acme, alice, mail_channel):
    with tenant_context(acme):
        with pytest.raises(ValidationError, match="threshold"):
            _rule(alice, mail_channel, "log_keyword", params={"threshold": 0})
        with pytest.raises(ValidationError, match="Unknown rule kind"):
            _rule(alice, mail_channel, "moon_phase")
        rule = _rule(alice, mail_channel, "expiring", params={"days": "7", "junk": 1})
    assert rule.params == {"days": 7}
    assert evaluators.param(rule, "days") == 7


def test_a_developer_cannot_manage_alerts(db, acme, bob, mail_channel):
    with tenant_context(acme), pytest.raises(PermissionDenied):
        services.rule_create(actor=bob.user(), name="nope", kind="rollback")


def test_selectors_are_empty_until_the_facts_exist(db, acme):
    now = timezone.now()
    with tenant_context(acme):
        assert isinstance(selectors.agents_offline(now=now), list)
        assert selectors.log_keyword_hits(keyword="", since=now, until=now)["count"] == 0

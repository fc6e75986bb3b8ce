"""One evaluator per rule kind: given the rule and the time, what is wrong right now?

Evaluators only read, through `selectors`. *State* rules (agent offline, expiring, log rate)
describe the present and may fire again after the cooldown while the problem lasts. *Event*
rules (deploy failed, rollback) look at what ended after the rule's watermark, so nothing is
lost during a cooldown: it is reported, aggregated, when the cooldown ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from deployments.alerts import selectors
from deployments.alerts.models import AlertRule

Kind = AlertRule.Kind
EVENT_KINDS = frozenset({Kind.DEPLOY_FAILED, Kind.ROLLBACK})

# Defaults and bounds of each kind's parameters: name → (default, minimum, maximum).
PARAMS: dict[str, dict[str, tuple[Any, Any, Any]]] = {
    Kind.AGENT_OFFLINE: {},
    Kind.DEPLOY_FAILED: {},
    Kind.ROLLBACK: {},
    Kind.EXPIRING: {"days": (14, 0, 365)},
    Kind.LOG_KEYWORD: {
        "keyword": ("ERROR", None, None),
        "threshold": (10, 1, 1_000_000),
        "window_minutes": (5, 1, 1440),
    },
}


@dataclass
class Outcome:
    title: str = ""
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def firing(self) -> bool:
        return bool(self.findings)


def param(rule: AlertRule, name: str) -> Any:
    default = PARAMS[rule.kind][name][0]
    return (rule.params or {}).get(name, default)


def _agent_offline(rule: AlertRule, now: datetime) -> Outcome:
    found = selectors.agents_offline(now=now)
    return Outcome(f"{len(found)} agent(s) offline", found)


def _deploy_failed(rule: AlertRule, now: datetime) -> Outcome:
    found = selectors.deploy_runs_ended(statuses=("failed",), since=rule.watermark, until=now)
    return Outcome(f"{len(found)} deploy run(s) failed", found)


def _rollback(rule: AlertRule, now: datetime) -> Outcome:
    found = selectors.rollback_runs(since=rule.watermark, until=now)
    return Outcome(f"{len(found)} rollback(s) happened", found)


def _expiring(rule: AlertRule, now: datetime) -> Outcome:
    days = int(param(rule, "days"))
    found = selectors.secrets_expiring(now=now, within=timedelta(days=days))
    return Outcome(f"{len(found)} certificate(s) or secret(s) expire within {days} days", found)


def _log_keyword(rule: AlertRule, now: datetime) -> Outcome:
    keyword = str(param(rule, "keyword"))
    threshold = int(param(rule, "threshold"))
    minutes = int(param(rule, "window_minutes"))
    hits = selectors.log_keyword_hits(keyword=keyword, since=now - timedelta(minutes=minutes), until=now)
    if hits["count"] < threshold:
        return Outcome()
    finding = {
        "subject": f"logs:{keyword}",
        "summary": f"{hits['count']} log lines matched {keyword!r} in {minutes} min (threshold {threshold})",
        "agents": hits["agents"],
        "sample": hits["sample"],
    }
    return Outcome(f"{hits['count']} × {keyword!r} in logs in {minutes} min", [finding])


EVALUATORS: dict[str, Callable[[AlertRule, datetime], Outcome]] = {
    Kind.AGENT_OFFLINE: _agent_offline,
    Kind.DEPLOY_FAILED: _deploy_failed,
    Kind.ROLLBACK: _rollback,
    Kind.EXPIRING: _expiring,
    Kind.LOG_KEYWORD: _log_keyword,
}


def evaluate(rule: AlertRule, now: datetime) -> Outcome:
    return EVALUATORS[rule.kind](rule, now)

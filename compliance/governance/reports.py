"""Compliance reports: a framework's controls evaluated over a period, as data, HTML or PDF."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils import timezone

from compliance.governance.catalogue import Control, Framework, framework, frameworks
from compliance.governance.collectors import FAIL, MANUAL, PASS, Evidence, Period, collect

PDF_CSS = Path(__file__).resolve().parent / "report_pdf.css"
MAX_PERIOD_DAYS = 366 * 3


@dataclass
class ControlResult:
    control: Control
    status: str
    evidence: list[Evidence]


@dataclass
class Report:
    framework: Framework
    period: Period
    generated_at: datetime
    results: list[ControlResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def passing(self) -> int:
        return self.count(PASS)

    @property
    def failing(self) -> int:
        return self.count(FAIL)

    @property
    def manual(self) -> int:
        return self.count(MANUAL)

    @property
    def score(self) -> int:
        return round(100 * self.passing / len(self.results)) if self.results else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "framework": {
                "key": self.framework.key,
                "name": self.framework.name,
                "version": self.framework.version,
            },
            "period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()},
            "generated_at": self.generated_at.isoformat(),
            "summary": {
                "passing": self.passing,
                "failing": self.failing,
                "manual": self.manual,
                "score": self.score,
            },
            "controls": [
                {
                    "id": r.control.id,
                    "title": r.control.title,
                    "status": r.status,
                    "evidence": [
                        {
                            "collector": e.collector,
                            "status": e.status,
                            "summary": e.summary,
                            "details": e.details,
                            "as_of": e.as_of.isoformat(),
                            "link": e.link,
                        }
                        for e in r.evidence
                    ],
                }
                for r in self.results
            ],
        }


def parse_period(start: str | None, end: str | None) -> Period:
    """Period from ISO dates; the default is the last 90 days up to today."""
    today = timezone.now().date()
    try:
        end_date = date.fromisoformat(end) if end else today
        start_date = date.fromisoformat(start) if start else end_date - timedelta(days=89)
    except ValueError as exc:
        raise ValidationError({"period": "Dates must look like 2026-01-31."}) from exc
    if start_date > end_date:
        raise ValidationError({"period": "The period starts after it ends."})
    if (end_date - start_date).days > MAX_PERIOD_DAYS:
        raise ValidationError({"period": "A report covers at most three years."})
    return Period(start_date, end_date)


def control_status(evidence: list[Evidence]) -> str:
    if not evidence:
        return MANUAL
    statuses = {e.status for e in evidence}
    if FAIL in statuses:
        return FAIL
    return MANUAL if MANUAL in statuses else PASS


def build_report(*, framework_key: str, period: Period, cache: dict[str, Evidence] | None = None) -> Report:
    """`cache` shares evidence between reports of the same period (each collector runs once)."""
    fw = framework(framework_key)
    cache = {} if cache is None else cache
    report = Report(fw, period, timezone.now())
    for control in fw.controls:
        evidence = []
        for spec in control.collectors:
            if spec not in cache:
                cache[spec] = collect(spec, period)
            evidence.append(cache[spec])
        evidence_status = MANUAL if not control.collectors else control_status(evidence)
        report.results.append(ControlResult(control, evidence_status, evidence))
    return report


def overall_score(period: Period) -> dict[str, Any]:
    """Across every framework: passing controls as a share of all controls."""
    totals = {"passing": 0, "failing": 0, "manual": 0, "controls": 0}
    per_framework = []
    evidence: dict[str, Evidence] = {}
    for key in frameworks():
        report = build_report(framework_key=key, period=period, cache=evidence)
        per_framework.append(report)
        totals["passing"] += report.passing
        totals["failing"] += report.failing
        totals["manual"] += report.manual
        totals["controls"] += len(report.results)
    score = round(100 * totals["passing"] / totals["controls"]) if totals["controls"] else 0
    return {**totals, "score": score, "reports": per_framework}


def render_pdf(*, report: Report, tenant_name: str, base_url: str) -> bytes:
    from weasyprint import CSS, HTML

    html = render_to_string(
        "compliance/governance/report_pdf.html",
        {"report": report, "tenant_name": tenant_name, "base_url": base_url},
    )
    return HTML(string=html, base_url=base_url).write_pdf(stylesheets=[CSS(filename=str(PDF_CSS))])

"""Report writes: rendering a PDF is recorded, since it leaves the portal."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from compliance import audit
from compliance.governance.reports import Report, render_pdf
from tenants.members.permissions import authorize


@transaction.atomic
def report_export_pdf(*, actor: Any, report: Report, tenant_name: str, base_url: str) -> bytes:
    authorize(actor, "reports.read")
    pdf = render_pdf(report=report, tenant_name=tenant_name, base_url=base_url)
    audit.record(
        action="compliance.report.pdf",
        actor=actor,
        payload={
            "framework": report.framework.key,
            "start": report.period.start.isoformat(),
            "end": report.period.end.isoformat(),
            "score": report.score,
        },
    )
    return pdf

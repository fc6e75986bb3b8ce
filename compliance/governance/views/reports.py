"""Pages: compliance dashboard, reports (HTML and PDF)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.text import slugify

from compliance.governance import selectors, services
from compliance.governance.catalogue import frameworks
from compliance.governance.forms import PeriodForm
from compliance.governance.models import PolicyViolation
from compliance.governance.reports import Report, build_report, overall_score, parse_period
from tenants.members.permissions import has_perm, permission_required


@permission_required("policies.read")
def compliance_home(request: HttpRequest) -> HttpResponse:
    """/compliance/: the overview for those who may read reports, else the policies."""
    if has_perm(request.user, "reports.read"):
        return redirect("compliance:governance:dashboard")
    return redirect("compliance:governance:policy-list")


@permission_required("reports.read")
def dashboard(request: HttpRequest) -> HttpResponse:
    period = parse_period(None, None)
    return render(
        request,
        "compliance/governance/dashboard.html",
        {
            "overall": overall_score(period),
            "period": period,
            "open_violations": PolicyViolation.objects.filter(resolved=False).count(),
            "blocking_violations": PolicyViolation.objects.filter(resolved=False, outcome="block").count(),
            "dsr": selectors.dsr_deadline_summary(),
            "pending_reviews": selectors.pending_reviews().count(),
        },
    )


@permission_required("reports.read")
def report_index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "compliance/governance/report_index.html",
        {"frameworks": frameworks().values(), "form": PeriodForm()},
    )


def _report(request: HttpRequest, key: str) -> tuple[Report | None, str | None]:
    try:
        period = parse_period(request.GET.get("start") or None, request.GET.get("end") or None)
    except ValidationError as exc:
        return None, " ".join(exc.messages)
    return build_report(framework_key=key, period=period), None


@permission_required("reports.read")
def report_detail(request: HttpRequest, key: str) -> HttpResponse:
    report, error = _report(request, key)
    form = PeriodForm(request.GET or None)
    if error:
        return render(
            request,
            "compliance/governance/report_index.html",
            {"frameworks": frameworks().values(), "form": form, "error": error},
            status=400,
        )
    return render(request, "compliance/governance/report.html", {"report": report, "form": form})


@permission_required("reports.read")
def report_pdf(request: HttpRequest, key: str) -> HttpResponse:
    report, error = _report(request, key)
    if error or report is None:
        return HttpResponse(error, status=400, content_type="text/plain")
    pdf = services.report_export_pdf(
        actor=request.user,
        report=report,
        tenant_name=request.tenant.name,  # type: ignore[attr-defined]
        base_url=request.build_absolute_uri("/"),
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    name = slugify(f"{key}-{report.period.start}-{report.period.end}")
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response

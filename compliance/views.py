"""Audit pages of a tenant: viewer, exports, forwarding, retention, verification."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from compliance import archive, selectors, services
from compliance.forms import EventFilterForm, ExportForm, ForwarderForm, RetentionForm
from compliance.models import AuditExport, AuditForwarder
from tenants.members.permissions import has_perm, permission_required

PAGING = ("before",)


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(str(m) for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


@permission_required("audit.read")
def event_list(request: HttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET or None)
    page, error = None, ""
    try:
        filters = selectors.clean_filters(request.GET, allow=PAGING)
        before = int(request.GET["before"]) if request.GET.get("before", "").isdigit() else None
        page = selectors.audit_events(filters=filters, before=before)
    except ValidationError as exc:
        error = _errors(exc)
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "page": page,
        "error": error,
        "query": query.urlencode(),
        "status": selectors.chain_status(),
        "can_export": has_perm(request.user, "audit.export"),
    }
    template = "compliance/_event_rows.html" if request.htmx else "compliance/event_list.html"
    return render(request, template, context, status=400 if error else 200)


@permission_required("audit.read")
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(selectors.AuditEvent, pk=pk)
    return render(request, "compliance/event_detail.html", {"event": event})


@require_POST
@permission_required("audit.read")
def chain_verify(request: HttpRequest) -> HttpResponse:
    result = services.chain_verify(actor=request.user)
    (messages.success if result.ok else messages.error)(request, result.summary())
    return redirect("compliance:audit-events")


@permission_required("audit.export")
def export_list(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        filters = {key: data[key] for key in ("actor", "action", "target", "q") if data.get(key)}
        try:
            services.export_request(
                actor=request.user,
                format=data["format"],
                since=data["since"],
                until=data["until"],
                filters=filters,
            )
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, "Export requested; it is built in the background.")
            return redirect("compliance:audit-exports")
    return render(
        request,
        "compliance/export_list.html",
        {"form": form, "exports": selectors.exports_recent()},
        status=400 if form.errors else 200,
    )


@permission_required("audit.export")
def export_download(request: HttpRequest, pk: int, which: str) -> FileResponse:
    export = get_object_or_404(AuditExport, pk=pk, status=AuditExport.Status.DONE)
    names = {
        "file": export.file_name,
        "manifest": export.manifest_name,
        "checkpoint": export.file_name.rsplit("/", 1)[0] + "/checkpoint.json",
    }
    if which not in names:
        raise Http404
    return FileResponse(
        archive.open_stream(names[which]), as_attachment=True, filename=names[which].rsplit("/", 1)[-1]
    )


@permission_required("audit.read")
def forwarder_list(request: HttpRequest) -> HttpResponse:
    form = ForwarderForm(request.POST or None)
    if request.method == "POST":
        if not has_perm(request.user, "audit.export"):
            raise PermissionDenied("Your role does not allow audit.export.")
        if form.is_valid():
            try:
                services.forwarder_create(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, _errors(exc))
            else:
                messages.success(request, "Forwarding destination added.")
                return redirect("compliance:audit-forwarders")
    context: dict[str, Any] = {"form": form, "forwarders": selectors.forwarders()}
    return render(request, "compliance/forwarder_list.html", context, status=400 if form.errors else 200)


@permission_required("audit.read")
def forwarder_detail(request: HttpRequest, pk: int) -> HttpResponse:
    forwarder = get_object_or_404(AuditForwarder, pk=pk)
    attempts = forwarder.attempts.order_by("-id")[:50]
    return render(request, "compliance/forwarder_detail.html", {"forwarder": forwarder, "attempts": attempts})


@require_POST
@permission_required("audit.export")
def forwarder_retry(request: HttpRequest, pk: int) -> HttpResponse:
    services.forwarder_retry_now(actor=request.user, forwarder=get_object_or_404(AuditForwarder, pk=pk))
    messages.success(request, "Delivery queued.")
    return redirect("compliance:audit-forwarder", pk=pk)


@permission_required("audit.read")
def retention(request: HttpRequest) -> HttpResponse:
    current = selectors.audit_settings()
    form = RetentionForm(request.POST or None, initial={"retention_days": current.retention_days})
    if request.method == "POST":
        if not has_perm(request.user, "audit.export"):
            raise PermissionDenied("Your role does not allow audit.export.")
        if form.is_valid():
            try:
                services.retention_set(actor=request.user, days=form.cleaned_data["retention_days"])
            except ValidationError as exc:
                form.add_error("retention_days", _errors(exc))
            else:
                messages.success(request, "Retention saved.")
                return redirect("compliance:audit-retention")
    context = {"form": form, "cap": selectors.plan_retention_cap(), "current": current}
    return render(request, "compliance/retention.html", context, status=400 if form.errors else 200)

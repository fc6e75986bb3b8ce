"""Pages: data-subject requests, consent records, the DPIA register."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from compliance.governance import services
from compliance.governance.forms import ConsentForm, DpiaForm, DsrForm, RejectForm, apply_errors
from compliance.governance.models import ConsentRecord, DataSubjectRequest, Dpia
from tenants.members.permissions import has_perm, permission_required


@permission_required("privacy.read")
def dsr_list(request: HttpRequest) -> HttpResponse:
    form = DsrForm(request.POST or None)
    if request.method == "POST":
        if not has_perm(request.user, "privacy.manage"):
            raise PermissionDenied("Your role does not allow privacy.manage.")
        if form.is_valid():
            try:
                dsr = services.dsr_create(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"Request #{dsr.pk} received; deadline {dsr.deadline:%Y-%m-%d}.")
                return redirect("compliance:governance:dsr-detail", pk=dsr.pk)
    return render(
        request,
        "compliance/governance/dsr_list.html",
        {
            "requests": DataSubjectRequest.objects.all()[:200],
            "form": form,
            "can_manage": has_perm(request.user, "privacy.manage"),
        },
        status=400 if form.errors else 200,
    )


@permission_required("privacy.read")
def dsr_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dsr = get_object_or_404(DataSubjectRequest, pk=pk)
    return render(
        request,
        "compliance/governance/dsr_detail.html",
        {"dsr": dsr, "reject_form": RejectForm(), "can_manage": has_perm(request.user, "privacy.manage")},
    )


@require_POST
@permission_required("privacy.manage")
def dsr_fulfil(request: HttpRequest, pk: int) -> HttpResponse:
    dsr = get_object_or_404(DataSubjectRequest, pk=pk)
    try:
        services.dsr_fulfil(dsr=dsr, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Request #{dsr.pk} completed.")
    return redirect("compliance:governance:dsr-detail", pk=dsr.pk)


@require_POST
@permission_required("privacy.manage")
def dsr_reject(request: HttpRequest, pk: int) -> HttpResponse:
    dsr = get_object_or_404(DataSubjectRequest, pk=pk)
    form = RejectForm(request.POST)
    try:
        services.dsr_reject(dsr=dsr, actor=request.user, reason=form.data.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Request #{dsr.pk} rejected.")
    return redirect("compliance:governance:dsr-detail", pk=dsr.pk)


@permission_required("privacy.manage")
def dsr_download(request: HttpRequest, pk: int) -> HttpResponse:
    dsr = get_object_or_404(DataSubjectRequest, pk=pk, kind=DataSubjectRequest.Kind.EXPORT)
    if not dsr.result_file or not default_storage.exists(dsr.result_file):
        raise Http404("This export has no file (yet).")
    response: HttpResponse = FileResponse(  # type: ignore[assignment]
        default_storage.open(dsr.result_file, "rb"), as_attachment=True, filename=f"dsr-{dsr.pk}-export.zip"
    )
    return response


@permission_required("privacy.read")
def consent_list(request: HttpRequest) -> HttpResponse:
    form = ConsentForm(request.POST or None)
    if request.method == "POST":
        if not has_perm(request.user, "privacy.manage"):
            raise PermissionDenied("Your role does not allow privacy.manage.")
        if form.is_valid():
            try:
                services.consent_record(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, "Consent recorded.")
                return redirect("compliance:governance:consent-list")
    return render(
        request,
        "compliance/governance/consent_list.html",
        {
            "records": ConsentRecord.objects.all()[:200],
            "form": form,
            "can_manage": has_perm(request.user, "privacy.manage"),
        },
        status=400 if form.errors else 200,
    )


@require_POST
@permission_required("privacy.manage")
def consent_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(ConsentRecord, pk=pk)
    try:
        services.consent_withdraw(record=record, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Consent withdrawn.")
    return redirect("compliance:governance:consent-list")


@permission_required("privacy.read")
def dpia_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "compliance/governance/dpia_list.html",
        {"dpias": Dpia.objects.all(), "can_manage": has_perm(request.user, "privacy.manage")},
    )


@permission_required("privacy.manage")
def dpia_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    dpia = get_object_or_404(Dpia, pk=pk) if pk is not None else None
    form = DpiaForm(request.POST or None, instance=dpia)
    if request.method == "POST" and form.is_valid():
        try:
            services.dpia_save(actor=request.user, dpia=dpia, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "DPIA saved.")
            return redirect("compliance:governance:dpia-list")
    return render(
        request,
        "compliance/governance/dpia_form.html",
        {"form": form, "dpia": dpia},
        status=400 if form.errors else 200,
    )


@require_POST
@permission_required("privacy.manage")
def dpia_approve(request: HttpRequest, pk: int) -> HttpResponse:
    dpia = get_object_or_404(Dpia, pk=pk)
    try:
        services.dpia_approve(dpia=dpia, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"DPIA {dpia.title!r} approved.")
    return redirect("compliance:governance:dpia-list")

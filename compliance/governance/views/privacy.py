"""Pages: data-subject requests, consent records, the DPIA register."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from compliance.governance import services
from compliance.governance.forms import ConsentForm, DpiaForm, DsrForm, RejectForm
from compliance.governance.models import ConsentRecord, DataSubjectRequest, Dpia
from portal.pages import post_action, render_form, submit_form
from tenants.members.permissions import has_perm, permission_required

MANAGE = "privacy.manage"


def _dsr_url(dsr: DataSubjectRequest) -> str:
    return reverse("compliance:governance:dsr-detail", kwargs={"pk": dsr.pk})


@permission_required("privacy.read")
def dsr_list(request: HttpRequest) -> HttpResponse:
    form = DsrForm(request.POST or None)
    done = submit_form(
        request,
        form,
        lambda data: services.dsr_create(actor=request.user, **data),
        permission=MANAGE,
        success=lambda dsr: f"Request #{dsr.pk} received; deadline {dsr.deadline:%Y-%m-%d}.",
        next_url=_dsr_url,
    )
    return done or render_form(
        request,
        "compliance/governance/dsr_list.html",
        {
            "requests": DataSubjectRequest.objects.all()[:200],
            "form": form,
            "can_manage": has_perm(request.user, MANAGE),
        },
    )


@permission_required("privacy.read")
def dsr_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dsr = get_object_or_404(DataSubjectRequest, pk=pk)
    return render(
        request,
        "compliance/governance/dsr_detail.html",
        {"dsr": dsr, "reject_form": RejectForm(), "can_manage": has_perm(request.user, MANAGE)},
    )


@require_POST
@permission_required(MANAGE)
def dsr_fulfil(request: HttpRequest, pk: int) -> HttpResponse:
    dsr = get_object_or_404(DataSubjectRequest, pk=pk)
    return post_action(
        request,
        lambda: services.dsr_fulfil(dsr=dsr, actor=request.user),
        success=f"Request #{dsr.pk} completed.",
        next_url=_dsr_url(dsr),
    )


@require_POST
@permission_required(MANAGE)
def dsr_reject(request: HttpRequest, pk: int) -> HttpResponse:
    dsr = get_object_or_404(DataSubjectRequest, pk=pk)
    reason = RejectForm(request.POST).data.get("reason", "")
    return post_action(
        request,
        lambda: services.dsr_reject(dsr=dsr, actor=request.user, reason=reason),
        success=f"Request #{dsr.pk} rejected.",
        next_url=_dsr_url(dsr),
    )


@permission_required(MANAGE)
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
    done = submit_form(
        request,
        form,
        lambda data: services.consent_record(actor=request.user, **data),
        permission=MANAGE,
        success="Consent recorded.",
        next_url=reverse("compliance:governance:consent-list"),
    )
    return done or render_form(
        request,
        "compliance/governance/consent_list.html",
        {
            "records": ConsentRecord.objects.all()[:200],
            "form": form,
            "can_manage": has_perm(request.user, MANAGE),
        },
    )


@require_POST
@permission_required(MANAGE)
def consent_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    record = get_object_or_404(ConsentRecord, pk=pk)
    return post_action(
        request,
        lambda: services.consent_withdraw(record=record, actor=request.user),
        success="Consent withdrawn.",
        next_url=reverse("compliance:governance:consent-list"),
    )


@permission_required("privacy.read")
def dpia_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "compliance/governance/dpia_list.html",
        {"dpias": Dpia.objects.all(), "can_manage": has_perm(request.user, MANAGE)},
    )


@permission_required(MANAGE)
def dpia_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    dpia = get_object_or_404(Dpia, pk=pk) if pk is not None else None
    form = DpiaForm(request.POST or None, instance=dpia)
    done = submit_form(
        request,
        form,
        lambda data: services.dpia_save(actor=request.user, dpia=dpia, **data),
        success="DPIA saved.",
        next_url=reverse("compliance:governance:dpia-list"),
    )
    return done or render_form(request, "compliance/governance/dpia_form.html", {"form": form, "dpia": dpia})


@require_POST
@permission_required(MANAGE)
def dpia_approve(request: HttpRequest, pk: int) -> HttpResponse:
    dpia = get_object_or_404(Dpia, pk=pk)
    return post_action(
        request,
        lambda: services.dpia_approve(dpia=dpia, actor=request.user),
        success=f"DPIA {dpia.title!r} approved.",
        next_url=reverse("compliance:governance:dpia-list"),
    )

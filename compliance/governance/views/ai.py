"""Pages: the AI-system register, risk assessments and the human review queue."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from compliance.governance import selectors, services
from compliance.governance.forms import (
    AISystemForm,
    AssessmentForm,
    ReviewDecideForm,
    ReviewSubmitForm,
    apply_errors,
)
from compliance.governance.models import AIReviewItem, AISystem
from tenants.members.permissions import has_perm, permission_required


@permission_required("privacy.read")
def system_list(request: HttpRequest) -> HttpResponse:
    form = AISystemForm(request.POST or None)
    if request.method == "POST":
        if not has_perm(request.user, "privacy.manage"):
            raise PermissionDenied("Your role does not allow privacy.manage.")
        if form.is_valid():
            try:
                system = services.ai_system_save(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"{system.name} registered. Assess its risk class next.")
                return redirect("compliance:governance:ai-detail", pk=system.pk)
    return render(
        request,
        "compliance/governance/ai_list.html",
        {
            "systems": AISystem.objects.all(),
            "form": form,
            "can_manage": has_perm(request.user, "privacy.manage"),
        },
        status=400 if form.errors else 200,
    )


@permission_required("privacy.read")
def system_detail(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_object_or_404(AISystem, pk=pk)
    form = AssessmentForm(request.POST or None)
    if request.method == "POST":
        if not has_perm(request.user, "privacy.manage"):
            raise PermissionDenied("Your role does not allow privacy.manage.")
        if form.is_valid():
            try:
                services.ai_risk_assess(actor=request.user, system=system, **form.cleaned_data)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, "Risk assessment recorded.")
                return redirect("compliance:governance:ai-detail", pk=system.pk)
    return render(
        request,
        "compliance/governance/ai_detail.html",
        {
            "system": system,
            "assessments": system.assessments.select_related("assessed_by"),
            "form": form,
            "submit_form": ReviewSubmitForm(),
            "can_manage": has_perm(request.user, "privacy.manage"),
        },
        status=400 if form.errors else 200,
    )


@require_POST
@permission_required("privacy.read")
def review_submit(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_object_or_404(AISystem, pk=pk)
    form = ReviewSubmitForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the subject and the proposed outcome.")
        return redirect("compliance:governance:ai-detail", pk=system.pk)
    try:
        services.ai_review_submit(actor=request.user, system=system, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("compliance:governance:ai-detail", pk=system.pk)
    messages.success(request, "Decision queued for human review.")
    return redirect("compliance:governance:ai-reviews")


@permission_required("privacy.read")
def review_queue(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "compliance/governance/ai_reviews.html",
        {
            "pending": selectors.pending_reviews(),
            "recent": AIReviewItem.objects.exclude(status="pending").select_related("system", "reviewer")[
                :50
            ],
            "form": ReviewDecideForm(),
            "can_manage": has_perm(request.user, "privacy.manage"),
        },
    )


@require_POST
@permission_required("privacy.manage")
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(AIReviewItem, pk=pk)
    form = ReviewDecideForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or reject.")
        return redirect("compliance:governance:ai-reviews")
    try:
        services.ai_review_decide(
            actor=request.user,
            item=item,
            approve=form.cleaned_data["decision"] == "approve",
            note=form.cleaned_data["note"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Decision {form.cleaned_data['decision']}d.")
    return redirect("compliance:governance:ai-reviews")

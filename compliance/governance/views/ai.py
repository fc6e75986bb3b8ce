"""Pages: the AI-system register, risk assessments and the human review queue."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from compliance.governance import selectors, services
from compliance.governance.forms import (
    AISystemForm,
    AssessmentForm,
    ReviewDecideForm,
    ReviewSubmitForm,
)
from compliance.governance.models import AIReviewItem, AISystem
from portal.pages import post_action, render_form, submit_form
from tenants.members.permissions import has_perm, permission_required

MANAGE = "privacy.manage"


@permission_required("privacy.read")
def system_list(request: HttpRequest) -> HttpResponse:
    form = AISystemForm(request.POST or None)
    done = submit_form(
        request,
        form,
        lambda data: services.ai_system_save(actor=request.user, **data),
        permission=MANAGE,
        success=lambda system: f"{system.name} registered. Assess its risk class next.",
        next_url=lambda system: reverse("compliance:governance:ai-detail", kwargs={"pk": system.pk}),
    )
    return done or render_form(
        request,
        "compliance/governance/ai_list.html",
        {"systems": AISystem.objects.all(), "form": form, "can_manage": has_perm(request.user, MANAGE)},
    )


@permission_required("privacy.read")
def system_detail(request: HttpRequest, pk: int) -> HttpResponse:
    system = get_object_or_404(AISystem, pk=pk)
    form = AssessmentForm(request.POST or None)
    done = submit_form(
        request,
        form,
        lambda data: services.ai_risk_assess(actor=request.user, system=system, **data),
        permission=MANAGE,
        success="Risk assessment recorded.",
        next_url=reverse("compliance:governance:ai-detail", kwargs={"pk": system.pk}),
    )
    return done or render_form(
        request,
        "compliance/governance/ai_detail.html",
        {
            "system": system,
            "assessments": system.assessments.select_related("assessed_by"),
            "form": form,
            "submit_form": ReviewSubmitForm(),
            "can_manage": has_perm(request.user, MANAGE),
        },
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
            "can_manage": has_perm(request.user, MANAGE),
        },
    )


@require_POST
@permission_required(MANAGE)
def review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(AIReviewItem, pk=pk)
    form = ReviewDecideForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or reject.")
        return redirect("compliance:governance:ai-reviews")
    decision = form.cleaned_data["decision"]
    return post_action(
        request,
        lambda: services.ai_review_decide(
            actor=request.user, item=item, approve=decision == "approve", note=form.cleaned_data["note"]
        ),
        success=f"Decision {decision}d.",
        next_url=reverse("compliance:governance:ai-reviews"),
    )

"""Pages: policies (list, create, edit, delete, install a template) and violations."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from compliance.governance import selectors, services
from compliance.governance.forms import PolicyForm, ResolveForm
from compliance.governance.models import Policy, PolicyViolation
from compliance.governance.policy_templates import TEMPLATES
from portal.pages import post_action, render_form, submit_form
from tenants.members.permissions import has_perm, permission_required


@permission_required("policies.read")
def policy_list(request: HttpRequest) -> HttpResponse:
    installed = set(Policy.objects.exclude(template="").values_list("template", flat=True))
    return render(
        request,
        "compliance/governance/policy_list.html",
        {
            "policies": Policy.objects.all(),
            "templates": [t for t in TEMPLATES if t.key not in installed],
            "can_manage": has_perm(request.user, "policies.manage"),
        },
    )


@permission_required("policies.manage")
def policy_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    policy = get_object_or_404(Policy, pk=pk) if pk is not None else None
    initial = PolicyForm.initial_for(policy) if policy else {"enabled": True}
    form = PolicyForm(request.POST or None, initial=initial)

    def save(data: dict[str, Any]) -> Policy:
        if policy is None:
            return services.policy_create(actor=request.user, **data)
        return services.policy_update(policy=policy, actor=request.user, **data)

    done = submit_form(
        request,
        form,
        save,
        success=lambda saved: f"Policy {saved.name!r} saved.",
        next_url=reverse("compliance:governance:policy-list"),
    )
    return done or render_form(
        request, "compliance/governance/policy_form.html", {"form": form, "policy": policy}
    )


@require_POST
@permission_required("policies.manage")
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(Policy, pk=pk)
    services.policy_delete(policy=policy, actor=request.user)
    messages.success(request, f"Policy {policy.name!r} deleted.")
    return redirect("compliance:governance:policy-list")


@require_POST
@permission_required("policies.manage")
def template_install(request: HttpRequest, key: str) -> HttpResponse:
    return post_action(
        request,
        lambda: services.policy_install_template(key=key, actor=request.user),
        success=lambda policy: f"Policy {policy.name!r} installed and enabled.",
        next_url=reverse("compliance:governance:policy-list"),
    )


@permission_required("policies.read")
def violation_list(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "open")
    resolved = {"open": False, "resolved": True}.get(show)
    return render(
        request,
        "compliance/governance/violation_list.html",
        {
            "violations": selectors.violations(resolved=resolved)[:200],
            "show": show,
            "can_manage": has_perm(request.user, "policies.manage"),
            "resolve_form": ResolveForm(),
        },
    )


@require_POST
@permission_required("policies.manage")
def violation_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    violation = get_object_or_404(PolicyViolation, pk=pk)
    form = ResolveForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    return post_action(
        request,
        lambda: services.violation_resolve(violation=violation, actor=request.user, note=note),
        success="Violation resolved.",
        next_url=reverse("compliance:governance:violation-list"),
    )

"""Deployments pages: overview, live run view, agent log viewer, terminal, playback."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deployments import pipeline, selectors, services
from deployments.forms import DeployForm, ReleaseForm
from deployments.models import Agent, DeployRun, Environment, Release, TerminalSession
from tenants.members.mfa import step_up_fresh, step_up_url
from tenants.members.permissions import has_perm, permission_required


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@permission_required("deployments.read")
def overview(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "deployments/overview.html",
        {
            "environments": Environment.objects.prefetch_related("agents"),
            "agents": Agent.objects.select_related("environment", "deployed_release")[:200],
            "runs": DeployRun.objects.select_related("environment", "release")[:30],
            "releases": Release.objects.all()[:30],
            "deploy_form": DeployForm(),
            "can_deploy": has_perm(request.user, "deploy.run"),
            "can_release": has_perm(request.user, "releases.manage"),
        },
    )


@require_POST
@permission_required("deploy.run")
def deploy(request: HttpRequest) -> HttpResponse:
    form = DeployForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose an environment and a release.")
        return redirect("deployments:overview")
    try:
        run = pipeline.deploy_request(actor=request.user, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
        return redirect("deployments:overview")
    return redirect("deployments:run", pk=run.pk)


@require_POST
@permission_required("deploy.run")
def rollback(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(DeployRun, pk=pk)
    try:
        new = pipeline.deploy_rollback(environment=run.environment, release=run.release, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
        return redirect("deployments:run", pk=pk)
    return redirect("deployments:run", pk=new.pk)


@require_POST
@permission_required("deploy.approve")
def approve(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        pipeline.deploy_approve(run=get_object_or_404(DeployRun, pk=pk), actor=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return redirect("deployments:run", pk=pk)


@require_POST
@permission_required("deploy.run")
def recheck(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        run = pipeline.deploy_recheck(run=get_object_or_404(DeployRun, pk=pk), actor=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        if run.status == "queued":
            messages.success(request, f"Run #{pk} is allowed now and queued.")
        else:
            messages.warning(request, f"Run #{pk} is still held by a policy (see the authorize step).")
    return redirect("deployments:run", pk=pk)


@permission_required("deployments.read")
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(DeployRun.objects.select_related("environment", "release"), pk=pk)
    return render(
        request,
        "deployments/run.html",
        {
            "run": run,
            "snapshot": selectors.run_snapshot(run),
            "socket": f"/ws/deployments/logs/run/{run.pk}/",
            "can_approve": has_perm(request.user, "deploy.approve") and run.status == "awaiting_approval",
            "can_rollback": has_perm(request.user, "deploy.run") and run.status == "succeeded",
            "can_cancel": has_perm(request.user, "deploy.run")
            and run.status in ("queued", "awaiting_approval"),
            "can_recheck": has_perm(request.user, "deploy.run") and selectors.run_held_by_policy(run),
        },
    )


@require_POST
@permission_required("deploy.run")
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        pipeline.run_cancel(run=get_object_or_404(DeployRun, pk=pk), actor=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Run #{pk} was cancelled.")
    return redirect("deployments:run", pk=pk)


@permission_required("releases.manage")
def release_create(request: HttpRequest) -> HttpResponse:
    form = ReleaseForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            release = services.release_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Release {release.version} uploaded and signed.")
            return redirect("deployments:overview")
    return render(request, "deployments/release_form.html", {"form": form})


@permission_required("deployments.read")
def agent_detail(request: HttpRequest, pk: int) -> HttpResponse:
    agent = get_object_or_404(Agent.objects.select_related("environment", "deployed_release"), pk=pk)
    return render(
        request,
        "deployments/agent.html",
        {
            "agent": agent,
            "sessions": TerminalSession.objects.filter(agent=agent)[:20],
            "socket": f"/ws/deployments/logs/agent/{agent.pk}/",
            "can_terminal": has_perm(request.user, "terminal.open"),
        },
    )


@permission_required("terminal.open")
def terminal(request: HttpRequest, pk: int) -> HttpResponse:
    agent = get_object_or_404(Agent, pk=pk, revoked_at__isnull=True)
    if not step_up_fresh(request.session):
        return redirect(step_up_url(request.path))
    return render(request, "deployments/terminal.html", {"agent": agent})


@permission_required("terminal.open")
def playback(request: HttpRequest, pk: int) -> HttpResponse:
    session = get_object_or_404(TerminalSession.objects.select_related("agent"), pk=pk)
    return render(request, "deployments/playback.html", {"session": session})

"""Deployments set-up pages: environments and their variables, enrolment tokens, the
terminal allow-list. Thin views: forms parse, services write and audit, roles are checked by
`tenants.members.permissions` (the page decorator and again in every service).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from deployments import selectors, services
from deployments.forms import (
    AllowedCommandForm,
    EnrollmentTokenForm,
    EnvironmentCreateForm,
    EnvironmentSettingsForm,
    VariableForm,
)
from deployments.models import (
    EnrollmentToken,
    Environment,
    EnvironmentVariable,
    TerminalAllowedCommand,
)
from portal.pages import apply_errors, submit_form
from tenants.members.permissions import authorize, has_perm, permission_required


def _environment_url(environment: Environment) -> str:
    return reverse("deployments:environment", kwargs={"pk": environment.pk})


def _status(*forms: Form | None) -> int:
    return 400 if any(form is not None and form.is_bound and form.errors for form in forms) else 200


# --- environments -------------------------------------------------------------------------
@permission_required("deployments.read")
def environments(request: HttpRequest) -> HttpResponse:
    form = None
    if has_perm(request.user, "environments.manage"):
        form = EnvironmentCreateForm(request.POST or None, prefix="env")
        done = submit_form(
            request,
            form,
            lambda data: services.environment_create(actor=request.user, **data),
            success=lambda environment: f"Environment {environment.name} created. Now enrol an agent in it.",
            next_url=_environment_url,
        )
        if done:
            return done
    elif request.method == "POST":
        authorize(request.user, "environments.manage")  # 403 page
    listing = Environment.objects.annotate(
        agent_count=Count("agents", distinct=True), variable_count=Count("variables", distinct=True)
    )
    return render(
        request,
        "deployments/environments.html",
        {"environments": listing, "form": form},
        status=_status(form),
    )


def _environment_page(
    request: HttpRequest, environment: Environment, *, status: int = 200, **forms: Any
) -> HttpResponse:
    manage_env = has_perm(request.user, "environments.manage")
    manage_agents = has_perm(request.user, "agents.manage")
    problems = selectors.variable_reference_problems(environment) if manage_env else {}
    context: dict[str, Any] = {
        "environment": environment,
        "agents": environment.agents.select_related("deployed_release"),
        "variables": [(variable, problems.get(variable.pk, [])) for variable in environment.variables.all()],
        "can_manage": manage_env,
        "can_enrol": manage_agents,
        "settings_form": forms.get("settings_form")
        or (
            EnvironmentSettingsForm(initial=_settings_initial(environment), prefix="settings")
            if manage_env
            else None
        ),
        "variable_form": forms.get("variable_form") or (VariableForm(prefix="var") if manage_env else None),
        "token_form": forms.get("token_form")
        or (EnrollmentTokenForm(prefix="token") if manage_agents else None),
        "tokens": environment.enrollment_tokens.all()[:50] if manage_agents else [],
        "created": forms.get("created"),
    }
    response = render(request, "deployments/environment.html", context, status=status)
    if context["created"]:
        response["Cache-Control"] = "no-store"  # the raw token is on this page, once
    return response


def _environment_form_post(view: Callable[[HttpRequest, Environment], HttpResponse]) -> Any:
    """The environment page's forms post here: the view gets the environment, and a GET (a
    reload or bookmark of a form's answer) goes back to the page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, pk: int) -> HttpResponse:
        environment = get_object_or_404(Environment, pk=pk)
        if request.method != "POST":
            return redirect("deployments:environment", pk=environment.pk)
        return view(request, environment)

    return wrapper


def _settings_initial(environment: Environment) -> dict[str, Any]:
    return {
        "description": environment.description,
        "is_production": environment.is_production,
        "approvals_required": environment.approvals_required,
    }


@permission_required("deployments.read")
def environment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _environment_page(request, get_object_or_404(Environment, pk=pk))


@permission_required("environments.manage")
@_environment_form_post
def environment_settings(request: HttpRequest, environment: Environment) -> HttpResponse:
    form = EnvironmentSettingsForm(request.POST, prefix="settings")
    done = submit_form(
        request,
        form,
        lambda data: services.environment_update(environment=environment, actor=request.user, **data),
        success=f"Settings of {environment.name} saved.",
        next_url=_environment_url(environment),
    )
    if done:
        return done
    environment.refresh_from_db()
    return _environment_page(request, environment, status=400, settings_form=form)


@permission_required("environments.manage")
@_environment_form_post
def variable_set(request: HttpRequest, environment: Environment) -> HttpResponse:
    form = VariableForm(request.POST, prefix="var")
    done = submit_form(
        request,
        form,
        lambda data: services.environment_variable_set(environment=environment, actor=request.user, **data),
        success=lambda variable: f"Variable {variable.name} saved.",
        next_url=_environment_url(environment),
    )
    return done or _environment_page(request, environment, status=400, variable_form=form)


@require_POST
@permission_required("environments.manage")
def variable_delete(request: HttpRequest, pk: int, variable_pk: int) -> HttpResponse:
    variable = get_object_or_404(EnvironmentVariable, pk=variable_pk, environment_id=pk)
    services.environment_variable_delete(variable=variable, actor=request.user)
    messages.success(request, f"Variable {variable.name} removed.")
    return redirect("deployments:environment", pk=pk)


# --- enrolment tokens ---------------------------------------------------------------------
@permission_required("agents.manage")
@_environment_form_post
def token_create(request: HttpRequest, environment: Environment) -> HttpResponse:
    form = EnrollmentTokenForm(request.POST, prefix="token")
    if form.is_valid():
        try:
            token, raw = services.enrollment_token_create(
                environment=environment,
                actor=request.user,
                expires_in=timedelta(hours=form.cleaned_data["expires_in_hours"]),
                max_uses=form.cleaned_data["max_uses"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            # Rendered, not redirected: the raw token exists only in this response.
            portal_url = request.build_absolute_uri("/").rstrip("/")
            created = {
                "token": token,
                "raw": raw,
                "command": f"python -m deployments.agent --url {portal_url} --token {raw}",
            }
            return _environment_page(request, environment, created=created)
    return _environment_page(request, environment, status=400, token_form=form)


@require_POST
@permission_required("agents.manage")
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(EnrollmentToken, pk=pk)
    services.enrollment_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Enrolment token {token.prefix}… revoked. Agents it enrolled keep working.")
    return redirect("deployments:environment", pk=token.environment_id)


# --- terminal allow-list ------------------------------------------------------------------
@permission_required("deployments.read")
def terminal_commands(request: HttpRequest) -> HttpResponse:
    form = None
    if has_perm(request.user, "agents.manage"):
        form = AllowedCommandForm(request.POST or None)
        done = submit_form(
            request,
            form,
            lambda data: services.terminal_command_allow(actor=request.user, **data),
            success=lambda entry: f"{entry.program} is on the allow-list.",
            next_url=reverse("deployments:terminal_commands"),
        )
        if done:
            return done
    elif request.method == "POST":
        authorize(request.user, "agents.manage")  # 403 page
    return render(
        request,
        "deployments/terminal_commands.html",
        {"commands": TerminalAllowedCommand.objects.all(), "form": form},
        status=_status(form),
    )


@require_POST
@permission_required("agents.manage")
def terminal_command_delete(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(TerminalAllowedCommand, pk=pk)
    services.terminal_command_disallow(entry=entry, actor=request.user)
    messages.success(request, f"{entry.program} removed from the allow-list.")
    return redirect("deployments:terminal_commands")

"""Small helpers for the server-rendered pages: the one shape every form page and POST button shares.

A page view parses input with a form, calls one service, shows the service's ValidationError in place
(or as a message for a button) and redirects with a success message. These helpers keep that shape in
one place so each view says only *which* service, *which* message and *where next*.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from tenants.members.mfa import step_up_fresh, step_up_url
from tenants.members.permissions import has_perm

T = TypeVar("T")
Text = str | Callable[[Any], str]


def apply_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form (by field where the field exists)."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _text(value: Text, result: Any) -> str:
    return value(result) if callable(value) else value


def submit_form(
    request: HttpRequest,
    form: forms.BaseForm,
    save: Callable[[dict[str, Any]], T],
    *,
    success: Text,
    next_url: Text,
    permission: str | None = None,
    step_up: bool = False,
) -> HttpResponse | None:
    """On a valid POST, call `save(cleaned_data)` and redirect; otherwise return None to re-render.

    `permission`, when given, is checked only for the POST (the page itself may be readable by more
    roles). With `step_up`, a POST without a fresh one-time code goes to the step-up page and back
    here first. A ValidationError from the service lands on the form, so the page shows it in place.
    """
    if request.method != "POST":
        return None
    if permission and not has_perm(request.user, permission):
        raise PermissionDenied(f"Your role does not allow {permission}.")
    if step_up and not step_up_fresh(request.session):
        return redirect(step_up_url(request.path))
    if not form.is_valid():
        return None
    try:
        result = save(form.cleaned_data)
    except ValidationError as exc:
        apply_errors(form, exc)
        return None
    messages.success(request, _text(success, result))
    return redirect(_text(next_url, result))


def post_action(
    request: HttpRequest, action: Callable[[], T], *, success: Text, next_url: str
) -> HttpResponse:
    """Run a button's service call; a ValidationError becomes an error message, never a 500."""
    try:
        result = action()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _text(success, result))
    return redirect(next_url)


def render_form(request: HttpRequest, template: str, context: Mapping[str, Any]) -> HttpResponse:
    """Render a page holding `context["form"]`: 400 when the form shows errors, so clients can tell."""
    form = context.get("form")
    return render(request, template, dict(context), status=400 if form is not None and form.errors else 200)

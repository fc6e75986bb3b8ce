"""Tenant self-service pages of the vault. Thin: parse a form, call a service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import APIException

from tenants.members import mfa
from tenants.members.permissions import authorize, has_perm, permission_required
from vault import selectors, services
from vault.filters import SecretFilter
from vault.forms import RevealForm, RotateForm, SecretCreateForm
from vault.models import Secret


def _secret(pk: int) -> Secret:
    return get_object_or_404(selectors.secrets_all(), pk=pk)


def _form_errors(form: Any, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _step_up_url(request: HttpRequest) -> str:
    builder = getattr(mfa, "step_up_url", None)
    if builder is not None:
        return builder(request.get_full_path())
    return f"/members/security/step-up/?next={request.get_full_path()}"


@permission_required("vault.read")
def secret_list(request: HttpRequest) -> HttpResponse:
    deleted = request.GET.get("deleted") == "1"
    base = selectors.secrets_all().filter(deleted_at__isnull=not deleted)
    filterset = SecretFilter(request.GET or None, queryset=base)
    secrets = filterset.qs if filterset.is_valid() else base.none()
    context = {
        "secrets": secrets[:500],
        "filter": filterset,
        "deleted": deleted,
        "can_write": has_perm(request.user, "vault.write"),
        "rotation_needed": selectors.rotation_needed().count(),
    }
    return render(request, "vault/list.html", context)


@permission_required("vault.write")
@require_http_methods(["GET", "POST"])
def secret_create(request: HttpRequest) -> HttpResponse:
    form = SecretCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.service_kwargs()
        try:
            secret = services.secret_create(actor=request.user, **data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, f"Secret {secret.name} created.")
            return redirect("vault:detail", pk=secret.pk)
    return render(request, "vault/create.html", {"form": form}, status=400 if form.errors else 200)


@permission_required("vault.read")
def secret_detail(request: HttpRequest, pk: int) -> HttpResponse:
    secret = _secret(pk)
    context = {
        "secret": secret,
        "can_write": has_perm(request.user, "vault.write", secret),
        "can_reveal": has_perm(request.user, "vault.reveal", secret),
        "can_destroy": has_perm(request.user, "vault.destroy", secret),
    }
    return render(request, "vault/detail.html", context)


@permission_required("vault.read")
def secret_versions(request: HttpRequest, pk: int) -> HttpResponse:
    secret = _secret(pk)
    return render(
        request, "vault/versions.html", {"secret": secret, "versions": selectors.secret_versions(secret)}
    )


@permission_required("vault.reveal")
@require_http_methods(["GET", "POST"])
def secret_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    secret = _secret(pk)
    authorize(request.user, "vault.reveal", secret)
    fresh = mfa.step_up_fresh(request.session)
    form = RevealForm(request.POST or None, initial={"version": request.GET.get("version")})
    context: dict[str, Any] = {"secret": secret, "form": form, "step_up_fresh": fresh}
    context["step_up_url"] = _step_up_url(request)
    status = 200
    if request.method == "POST":
        if not fresh:
            status = 403
        elif form.is_valid():
            try:
                context["value"] = services.secret_reveal(
                    secret=secret,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    version=form.cleaned_data.get("version"),
                )
                context["version"] = form.cleaned_data.get("version") or secret.current_version
            except ValidationError as exc:
                _form_errors(form, exc)
            except APIException as exc:
                messages.error(request, str(exc.detail))
                status = exc.status_code
        if form.errors:
            status = 400
    response = render(request, "vault/reveal.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@permission_required("vault.write")
@require_http_methods(["GET", "POST"])
def secret_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    secret = _secret(pk)
    authorize(request.user, "vault.write", secret)
    form = RotateForm(request.POST or None, initial={"version": secret.current_version})
    if request.method == "POST" and form.is_valid():
        try:
            services.secret_rotate(
                secret=secret,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                value=form.cleaned_data["value"] or None,
                expected_version=form.cleaned_data["version"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        except APIException as exc:
            form.add_error(None, str(exc.detail))
        else:
            messages.success(request, f"Secret {secret.name} rotated.")
            return redirect("vault:detail", pk=secret.pk)
    return render(
        request, "vault/rotate.html", {"secret": secret, "form": form}, status=400 if form.errors else 200
    )


@permission_required("vault.write")
@require_POST
def secret_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _lifecycle(request, pk, services.secret_delete, "deleted")


@permission_required("vault.write")
@require_POST
def secret_restore(request: HttpRequest, pk: int) -> HttpResponse:
    return _lifecycle(request, pk, services.secret_restore, "restored")


@permission_required("vault.destroy")
@require_POST
def secret_destroy(request: HttpRequest, pk: int) -> HttpResponse:
    secret = _secret(pk)
    if request.POST.get("confirm") != secret.name:
        messages.error(request, "Type the secret's name to destroy it permanently.")
        return redirect("vault:detail", pk=pk)
    return _lifecycle(request, pk, services.secret_destroy, "destroyed permanently")


def _lifecycle(request: HttpRequest, pk: int, service: Any, done: str) -> HttpResponse:
    secret = _secret(pk)
    try:
        service(secret=secret, actor=request.user)
    except APIException as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, f"Secret {secret.name} {done}.")
    if done.startswith("destroyed") and not Secret.objects.filter(pk=pk).exists():
        return redirect("vault:list")
    return redirect("vault:detail", pk=pk)

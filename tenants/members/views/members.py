"""Members, invitations, profile, API tokens and service accounts pages."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts.backends import MODEL_BACKEND
from portal.accounts.models import User
from portal.pages import render_form, submit_form
from tenants.members import mfa, permissions, selectors, services, tokens
from tenants.members.forms import (
    InvitationAcceptForm,
    InvitationForm,
    PolicyForm,
    ProfileForm,
    RoleForm,
    ServiceAccountForm,
    TokenForm,
)
from tenants.members.models import ApiToken, Invitation, SecurityPolicy, ServiceAccount
from tenants.members.views.common import errors_to_form


@permissions.permission_required("members.read")
def member_list(request: HttpRequest) -> HttpResponse:
    can_manage = permissions.has_perm(request.user, "members.manage")
    form = InvitationForm(request.POST or None) if can_manage else None
    if request.method == "POST":
        permissions.authorize(request.user, "members.manage")
        assert form is not None
        done = submit_form(
            request,
            form,
            lambda data: services.invitation_create(actor=request.user, **data),
            success=lambda _: f"Invitation sent to {form.cleaned_data['email']}.",
            next_url="members:list",
        )
        if done:
            return done
    context = {
        "members": selectors.members_for_page(),
        "invitations": selectors.invitations_open() if can_manage else [],
        "form": form,
        "can_manage": can_manage,
        "roles": RoleForm().fields["role"].choices,
        "policy": SecurityPolicy.objects.filter(pk=1).first(),
    }
    return render_form(request, "members/list.html", context)


@permissions.permission_required("members.manage")
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(User, pk=pk, is_service_account=False)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
        return redirect("members:list")
    try:
        services.member_role_set(member=member, role=form.cleaned_data["role"], actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("members:list")
    messages.success(request, f"{member.email} is now {form.cleaned_data['role']}.")
    return redirect("members:list")


@permissions.permission_required("members.manage")
@require_POST
def member_active(request: HttpRequest, pk: int) -> HttpResponse:
    member = get_object_or_404(User, pk=pk, is_service_account=False)
    active = request.POST.get("active") == "1"
    try:
        services.member_active_set(member=member, active=active, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{member.email} {'reactivated' if active else 'deactivated'}.")
    return redirect("members:list")


@permissions.permission_required("members.manage")
@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    services.invitation_revoke(invitation=get_object_or_404(Invitation, pk=pk), actor=request.user)
    messages.success(request, "Invitation revoked.")
    return redirect("members:list")


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Anonymous: the link from the email. Unknown, used, revoked or expired → a clear 4xx."""
    try:
        invitation = services.invitation_check(token=token)
    except ValidationError as exc:
        known = services.invitation_for_token(token) is not None
        context = {"message": exc.messages[0]}
        return render(request, "members/invitation_invalid.html", context, status=410 if known else 404)
    form = InvitationAcceptForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token, password=form.cleaned_data["password1"], name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            errors_to_form(form, exc)
        else:
            login(request, user, backend=MODEL_BACKEND)
            messages.success(request, f"Welcome to {request.tenant.name}.")
            return redirect("/")
    context = {"form": form, "invitation": invitation}
    return render(request, "members/invitation_accept.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, initial={"name": request.user.name})
    if request.method == "POST" and form.is_valid():
        services.member_profile_update(member=request.user, name=form.cleaned_data["name"])
        messages.success(request, "Profile saved.")
        return redirect("members:profile")
    return render(request, "members/profile.html", {"form": form}, status=400 if form.errors else 200)


def _token_form_create(request: HttpRequest, form: TokenForm, owner: User) -> tuple[ApiToken, str] | None:
    if not form.is_valid():
        return None
    days = form.cleaned_data.get("expires_in_days")
    expires_at = timezone.now() + timedelta(days=int(days)) if days else None
    try:
        return tokens.token_create(
            owner=owner,
            actor=request.user,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=expires_at,
        )
    except ValidationError as exc:
        errors_to_form(form, exc)
        return None


@permissions.permission_required("tokens.manage_own")
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    created = _token_form_create(request, form, request.user) if request.method == "POST" else None
    context = {
        "form": TokenForm() if created else form,
        "tokens": ApiToken.objects.filter(user=request.user),
        "created": created and created[0],
        "plaintext": created and created[1],
    }
    status = 400 if request.method == "POST" and not created else 200
    return render(request, "members/tokens.html", context, status=status)


@permissions.permission_required("tokens.manage_own")
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
    tokens.token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token {token.prefix}… revoked.")
    return redirect("members:service-accounts" if token.user.is_service_account else "members:tokens")


@permissions.permission_required("service_accounts.manage")
@require_http_methods(["GET", "POST"])
def service_accounts(request: HttpRequest) -> HttpResponse:
    form = ServiceAccountForm(request.POST or None)
    done = submit_form(
        request,
        form,
        lambda data: tokens.service_account_create(actor=request.user, **data),
        success=lambda _: f"Service account {form.cleaned_data['name']} created.",
        next_url="members:service-accounts",
    )
    if done:
        return done
    context = {"form": form, "accounts": selectors.service_accounts_with_tokens(), "token_form": TokenForm()}
    return render_form(request, "members/service_accounts.html", context)


@permissions.permission_required("service_accounts.manage")
@require_POST
def service_account_token(request: HttpRequest, pk: int) -> HttpResponse:
    account = get_object_or_404(ServiceAccount.objects.select_related("user"), pk=pk)
    form = TokenForm(request.POST)
    created = _token_form_create(request, form, account.user)
    if created is None:
        messages.error(
            request,
            "The token could not be created: "
            + "; ".join(str(error) for errors in form.errors.values() for error in errors),
        )
        return redirect("members:service-accounts")
    return render(request, "members/token_created.html", {"created": created[0], "plaintext": created[1]})


@permissions.permission_required("policies.manage")
@require_POST
def policy(request: HttpRequest) -> HttpResponse:
    if not mfa.step_up_fresh(request.session):
        return redirect(mfa.step_up_url("/members/"))
    form = PolicyForm(request.POST)
    if not form.is_valid():
        raise Http404
    services.policy_update(actor=request.user, **form.cleaned_data)
    messages.success(request, "Security policy saved.")
    return redirect("members:list")

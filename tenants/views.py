"""Public-site pages: landing, signup with progress, and central login."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from portal import editions
from portal.accounts.backends import MODEL_BACKEND
from tenants import services, tasks
from tenants.forms import FindWorkspaceForm, SignupForm
from tenants.models import Plan, Tenant
from tenants.selectors import serving_tenants, tenant_login_url

HANDOFF_SALT = "tenants.signup.handoff"
HANDOFF_MAX_AGE = 120


def _community_redirect() -> HttpResponse | None:
    """Community edition: the public domain only points at the single tenant."""
    if editions.enabled("multi_tenant"):
        return None
    tenant = serving_tenants().first()
    if tenant is None:
        return HttpResponse("This portal has no organisation yet: run `make run` to create it.", status=503)
    return redirect(tenant_login_url(tenant))


def landing(request: HttpRequest) -> HttpResponse:
    if response := _community_redirect():
        return response
    return render(request, "public/landing.html", {"plans": Plan.objects.filter(is_public=True)})


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not editions.enabled("signup"):
        raise Http404("Signup is not available in this edition.")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        plan, next_path = data.get("plan"), "/"
        if plan is not None and plan.monthly_price_cents and editions.enabled("billing"):
            # A paid plan starts on Free; Stripe Checkout (after the hand-off) upgrades it
            # once the webhook confirms payment.
            plan, next_path = None, f"/billing/?subscribe={data['plan'].slug}"
        try:
            tenant = services.tenant_create(
                slug=data["slug"],
                name=data["name"],
                admin_email=data["email"],
                admin_password=data["password"],
                plan=plan,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            token = signing.dumps(
                {"t": tenant.pk, "e": data["email"].lower(), "n": next_path}, salt=HANDOFF_SALT
            )
            return redirect("signup-status", token=token)
    return render(request, "public/signup.html", {"form": form}, status=400 if form.errors else 200)


def signup_status(request: HttpRequest, token: str) -> HttpResponse:
    """Progress page; polls (htmx) until the schema is ready, then hands over to the subdomain."""
    try:
        data = signing.loads(token, salt=HANDOFF_SALT, max_age=3600)
        tenant = Tenant.objects.get(pk=data["t"])
    except (signing.BadSignature, Tenant.DoesNotExist, KeyError, TypeError) as exc:
        raise Http404("Unknown signup") from exc
    context = {"tenant": tenant, "token": token}
    if tenant.is_ready:
        handoff = signing.dumps(
            {"e": data["e"], "s": tenant.schema_name, "n": data.get("n", "/")}, salt=HANDOFF_SALT
        )
        base = tenant_login_url(tenant).removesuffix("/accounts/login/")
        context["continue_url"] = f"{base}/welcome/{handoff}/"
        if not request.htmx:
            return redirect(context["continue_url"])
    template = "public/_signup_progress.html" if request.htmx else "public/signup_status.html"
    return render(request, template, context)


def welcome(request: HttpRequest, token: str) -> HttpResponse:
    """Tenant side of the signup hand-off: a one-time, two-minute link that signs the owner in."""
    try:
        data = signing.loads(token, salt=HANDOFF_SALT, max_age=HANDOFF_MAX_AGE)
    except signing.BadSignature as exc:
        raise Http404("This link has expired. Please sign in.") from exc
    if data.get("s") != request.tenant.schema_name or not cache.add(
        f"handoff:{token[-40:]}", 1, HANDOFF_MAX_AGE * 2
    ):
        raise Http404("This link has already been used. Please sign in.")
    user = get_user_model().objects.filter(email=data["e"], is_active=True).first()
    if user is None:
        raise Http404("Unknown account")
    login(request, user, backend=MODEL_BACKEND)
    messages.success(request, f"Welcome to {request.tenant.name}. Your portal is ready.")
    next_path = str(data.get("n") or "/")
    return redirect(next_path if next_path.startswith("/") and not next_path.startswith("//") else "/")


@require_http_methods(["GET", "POST"])
def find_workspace(request: HttpRequest) -> HttpResponse:
    """Central login. Every address gets the same answer; the links go by email."""
    if response := _community_redirect():
        return response
    form = FindWorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        tasks.central_login_send.delay(form.cleaned_data["email"])
        return render(request, "public/find_workspace_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "public/find_workspace.html", {"form": form}, status=400 if form.errors else 200)

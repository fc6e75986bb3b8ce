"""Billing pages (tenant domains) and the Stripe webhook endpoint (every domain).

Views parse input and call services; ownership is the tenant of the request, always.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenants.billing import selectors, services, stripe_client, webhooks
from tenants.billing.forms import CheckoutForm, PlanChangeForm
from tenants.members.permissions import has_perm, permission_required
from tenants.models import Plan, Tenant

log = logging.getLogger(__name__)


def tenant_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Billing pages belong to a tenant's domain; the public domain only takes webhooks."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.schema_name == "public":
            raise Http404("Billing pages live on your workspace's own address.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _tenant(request: HttpRequest) -> Tenant:
    """The request's tenant (set by the routing middleware; `tenant_only` checked it)."""
    return request.tenant  # type: ignore[attr-defined]


def _see_other(url: str) -> HttpResponse:
    """303 to Stripe's hosted page (the browser follows with GET)."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _base_url(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _stripe_error_page(request: HttpRequest, exc: Exception) -> HttpResponse:
    context = {
        **selectors.tenant_billing_overview(_tenant(request)),
        "billing_on": True,
        "can_manage": has_perm(request.user, "billing.manage"),
        "error": str(exc),
    }
    return render(request, "billing/home.html", context, status=502)


@require_GET
@tenant_only
@permission_required("billing.read")
def billing_home(request: HttpRequest) -> HttpResponse:
    context = selectors.tenant_billing_overview(_tenant(request))
    context["billing_on"] = stripe_client.billing_enabled()
    context["can_manage"] = has_perm(request.user, "billing.manage")
    # `?subscribe=<plan>` (e.g. from signup on a paid plan) puts that plan's checkout first.
    wanted = request.GET.get("subscribe", "")
    context["subscribe_plan"] = next(
        (p for p in context["plans"] if p.slug == wanted and p.monthly_price_cents), None
    )
    return render(request, "billing/home.html", context)


@require_POST
@tenant_only
@permission_required("billing.manage")
def checkout(request: HttpRequest) -> HttpResponse:
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose a paid plan and an interval.")
    try:
        _attempt, url = services.checkout_start(
            tenant=_tenant(request),
            plan=form.cleaned_data["plan"],
            interval=form.cleaned_data["interval"],
            actor=request.user,
            base_url=_base_url(request),
        )
    except services.PlanChangeRefused as exc:
        return render(
            request, "billing/plan_change.html", _change_context(request, exc.plan, exc), status=400
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("billing:home")
    except stripe_client.StripeUnavailable as exc:
        return _stripe_error_page(request, exc)
    return _see_other(url) if url else redirect("billing:home")


@require_GET
@tenant_only
@permission_required("billing.read")
def checkout_done(request: HttpRequest) -> HttpResponse:
    """Stripe sends the browser here; we do not trust that, we wait for the webhook."""
    attempt = selectors.checkout_attempt_for(_tenant(request), request.GET.get("session_id", ""))
    if attempt is None:
        raise Http404("Unknown checkout session.")
    return render(request, "billing/checkout_done.html", {"attempt": attempt})


@require_GET
@tenant_only
@permission_required("billing.read")
def checkout_status(request: HttpRequest, session_id: str) -> HttpResponse:
    attempt = selectors.checkout_attempt_for(_tenant(request), session_id)
    if attempt is None:
        raise Http404("Unknown checkout session.")
    return render(request, "billing/_checkout_status.html", {"attempt": attempt})


@require_POST
@tenant_only
@permission_required("billing.manage")
def portal(request: HttpRequest) -> HttpResponse:
    try:
        url = services.portal_session_start(
            tenant=_tenant(request), actor=request.user, return_url=f"{_base_url(request)}/billing/"
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("billing:home")
    except stripe_client.StripeUnavailable as exc:
        return _stripe_error_page(request, exc)
    return _see_other(url)


def _change_context(request: HttpRequest, plan: Plan, error: Exception | None = None) -> dict[str, Any]:
    return {
        "plan": plan,
        "current": _tenant(request).plan,
        "over": services.plan_change_preview(tenant=_tenant(request), plan=plan),
        "form": PlanChangeForm(request.POST or None),
        "subscription": selectors.subscription_for(_tenant(request)),
        "billing_on": stripe_client.billing_enabled(),
        "error": " ".join(error.messages) if isinstance(error, ValidationError) else "",
    }


@require_http_methods(["GET", "POST"])
@tenant_only
@permission_required("billing.manage")
def plan_change(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: preview (what would exceed the new plan). POST: confirm."""
    plan = get_object_or_404(Plan, slug=slug)
    context = _change_context(request, plan)
    if request.method == "GET":
        return render(request, "billing/plan_change.html", context)
    form = context["form"]
    if not form.is_valid():
        return render(request, "billing/plan_change.html", context, status=400)
    try:
        services.plan_change(
            tenant=_tenant(request), plan=plan, actor=request.user, interval=form.cleaned_data["interval"]
        )
    except ValidationError as exc:
        return render(request, "billing/plan_change.html", _change_context(request, plan, exc), status=400)
    except stripe_client.StripeUnavailable as exc:
        return _stripe_error_page(request, exc)
    messages.success(request, f"Your plan change to {plan.name} was sent to Stripe.")
    return redirect("billing:home")


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    """Verify and store the event, answer at once; a Celery task applies it."""
    try:
        event_id, pk = webhooks.event_accept(request.body, request.META.get("HTTP_STRIPE_SIGNATURE", ""))
    except webhooks.WebhookRejected as exc:
        log.warning("stripe webhook rejected: %s", exc)
        return JsonResponse({"error": "invalid webhook"}, status=400)
    return JsonResponse({"received": event_id, "duplicate": pk is None})

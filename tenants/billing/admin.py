"""Operator console for billing: plans, subscriptions, revenue, webhook events (replay),
invoices, usage reports, reconciliation mismatches and plan assignment."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path

from tenants.billing import catalog, limits, selectors, services, stripe_client, webhooks
from tenants.billing.models import (
    Invoice,
    ReconciliationMismatch,
    Subscription,
    TenantPlan,
    UsageReport,
    WebhookEvent,
)
from tenants.models import Plan, Tenant


@admin.action(description="Create/update in Stripe (Products and Prices)")
def sync_plans_to_stripe(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Plan]) -> None:
    if not stripe_client.billing_enabled():
        modeladmin.message_user(request, "Billing is off (no STRIPE_SECRET_KEY).", messages.WARNING)
        return
    for plan in queryset:
        if plan.monthly_price_cents:
            changes = catalog.plan_sync(plan)
            modeladmin.message_user(request, f"{plan}: {', '.join(changes) or 'up to date'}")


class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "monthly_price_cents",
        "yearly_price_cents",
        "seat_price_cents",
        "is_public",
    )
    list_editable = ("is_public",)
    ordering = ("sort_order", "id")
    readonly_fields = ("stripe_product_id",)
    actions = [sync_plans_to_stripe]


# The tenants app may register Plan itself one day; then its admin wins.
if not admin.site.is_registered(Plan):
    admin.site.register(Plan, PlanAdmin)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("tenant", "status", "plan", "interval", "seats", "past_due_since", "current_period_end")
    list_filter = ("status", "plan", "interval")
    list_select_related = ("tenant", "plan")
    search_fields = ("tenant__slug", "tenant__name", "stripe_customer_id", "stripe_subscription_id")
    raw_id_fields = ("tenant",)
    readonly_fields = [f.name for f in Subscription._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        extra = [path("revenue/", self.admin_site.admin_view(self.revenue_view), name="billing_revenue")]
        return extra + super().get_urls()

    def revenue_view(self, request: HttpRequest) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Revenue",
            "summary": selectors.revenue_summary(),
            "billing_on": stripe_client.billing_enabled(),
        }
        return TemplateResponse(request, "billing/admin/revenue.html", context)


@admin.action(description="Replay (process again)")
def replay_events(modeladmin: Any, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
    for event in queryset:
        webhooks.event_replay(event=event, actor=request.user)
    modeladmin.message_user(request, f"{queryset.count()} event(s) queued for processing.")


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "type", "status", "tenant", "attempts", "received_at", "processed_at")
    list_filter = ("status", "type")
    list_select_related = ("tenant",)
    search_fields = ("event_id",)
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]
    actions = [replay_events]
    show_full_result_count = False
    date_hierarchy = "received_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = (
        "stripe_invoice_id",
        "tenant",
        "status",
        "amount_due",
        "amount_paid",
        "paid_at",
        "payment_failed_at",
    )
    list_filter = ("status",)
    list_select_related = ("tenant",)
    search_fields = ("stripe_invoice_id", "number", "tenant__slug")
    readonly_fields = [f.name for f in Invoice._meta.fields]
    show_full_result_count = False


@admin.register(UsageReport)
class UsageReportAdmin(admin.ModelAdmin):
    list_display = ("identifier", "tenant", "metric", "value", "period", "reported_at")
    list_filter = ("metric",)
    list_select_related = ("tenant",)
    readonly_fields = [f.name for f in UsageReport._meta.fields]
    show_full_result_count = False


@admin.action(description="Mark resolved")
def resolve_mismatches(
    modeladmin: Any, request: HttpRequest, queryset: QuerySet[ReconciliationMismatch]
) -> None:
    from django.utils import timezone

    queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())


class OpenFilter(admin.SimpleListFilter):
    title, parameter_name = "state", "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "open"), ("resolved", "resolved")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(ReconciliationMismatch)
class ReconciliationMismatchAdmin(admin.ModelAdmin):
    list_display = ("tenant", "field", "local_value", "stripe_value", "found_at", "resolved_at")
    list_filter = (OpenFilter, "field")
    list_select_related = ("tenant",)
    readonly_fields = [f.name for f in ReconciliationMismatch._meta.fields]
    actions = [resolve_mismatches]


class PlanAssignForm(forms.ModelForm):
    """The plan, with the downgrade preview: over the new plan's limits only when forced, with a reason."""

    force = forms.BooleanField(
        required=False,
        label="Assign even if usage exceeds the plan",
        help_text="Nothing is deleted; the tenant cannot create more until it fits.",
    )
    reason = forms.CharField(
        required=False,
        max_length=200,
        help_text="Recorded in the operator's and the tenant's audit logs; required when forcing.",
    )

    class Meta:
        model = TenantPlan
        fields = ("plan",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].required = True

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        plan = data.get("plan")
        if plan is None or self.instance.pk is None:
            return data
        tenant = Tenant.objects.get(pk=self.instance.pk)
        over = services.plan_change_preview(tenant=tenant, plan=plan) if tenant.is_ready else []
        if over and not data.get("force"):
            refused = services.PlanChangeRefused(plan=plan, over=over)
            raise forms.ValidationError(
                f"{refused.messages[0]} Or tick “Assign even if usage exceeds the plan” and give a reason.",
                code="plan_over_limits",
            )
        if over and len((data.get("reason") or "").strip()) < 5:
            self.add_error("reason", "Say why you assign a plan the tenant's usage exceeds.")
        return data


@admin.register(TenantPlan)
class TenantPlanAdmin(admin.ModelAdmin):
    """Assign plans by hand (the only way when billing is off), always through `plan_assign`:
    the downgrade preview refuses a plan the usage exceeds unless forced with a reason, and
    every change is audited in the operator's and the tenant's chain. There is no bulk
    (list-editable) path, which would skip both."""

    form = PlanAssignForm
    list_display = ("name", "slug", "status", "plan")
    list_filter = ("plan", "status")
    search_fields = ("slug", "name")
    fields = ("name", "slug", "status", "usage", "plan", "force", "reason")
    readonly_fields = ("name", "slug", "status", "usage")
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).exclude(schema_name="public").select_related("plan")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="usage now")
    def usage(self, obj: Any) -> str:
        if obj is None or not obj.is_ready:
            return "no schema yet"
        used = selectors.tenant_usage(obj)
        return ", ".join(
            f"{label}: {used.get(kind, 0)}"
            for kind, (_f, label) in limits.LIMIT_FIELDS.items()
            if kind in used
        )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: Any = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:  # usage grew between the preview and the save: rolled back
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.path)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        services.plan_assign(
            tenant=Tenant.objects.get(pk=obj.pk),
            plan=form.cleaned_data["plan"],
            actor=request.user,
            force=bool(form.cleaned_data.get("force")),
            reason=form.cleaned_data.get("reason") or "",
        )

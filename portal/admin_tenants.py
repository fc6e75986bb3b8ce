"""Operator admin for tenants and plans.

Tenants are created by signup/`tenant_create` (from the schema pool), never by the admin
form, and their status changes only through `tenant_set_status` (audited in both chains),
so the form shows status read-only and offers suspend/reactivate as explicit actions that
ask for a reason.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from portal import selectors
from tenants.models import Domain, Plan, Tenant
from tenants.services import tenant_set_status

STATUS_LEVEL = {"active": "ok", "trial": "ok", "past_due": "warn", "read_only": "warn", "suspended": "bad"}


class StatusChangeForm(forms.Form):
    status = forms.ChoiceField(choices=[c for c in Tenant.Status.choices if c[0] != Tenant.Status.DELETED])
    reason = forms.CharField(
        max_length=200,
        min_length=5,
        help_text="Recorded in the operator audit log and in the tenant's own audit log.",
    )


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]
    show_change_link = False


class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "status_badge", "plan", "provisioning", "is_canary", "created_at"]
    list_filter = ["status", "plan", "provisioning", "is_canary"]
    search_fields = ["slug", "name", "=schema_name", "domains__domain"]
    list_select_related = ["plan"]
    raw_id_fields = ["plan"]
    show_full_result_count = False
    list_per_page = 50
    ordering = ["-id"]
    inlines = [DomainInline]
    actions = ["suspend_selected", "reactivate_selected"]
    change_form_template = "admin/tenants/tenant/change_form.html"
    readonly_fields = [
        "schema_name",
        "plan",  # changed only through billing's plan_assign (preview, reason, both audit chains)
        "status",
        "status_changed_at",
        "status_reason",
        "provisioning",
        "provisioning_path",
        "provisioning_error",
        "created_at",
        "updated_at",
    ]
    fieldsets = (
        (None, {"fields": ("name", "slug", "schema_name", "plan", "is_canary")}),
        ("Status", {"fields": ("status", "status_changed_at", "status_reason")}),
        (
            "Provisioning",
            {
                "classes": ("collapse",),
                "fields": (
                    "provisioning",
                    "provisioning_path",
                    "provisioning_error",
                    "created_at",
                    "updated_at",
                ),
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        return super().get_queryset(request).exclude(schema_name="public")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # The slug names the schema and the primary domain: fixed once the tenant exists.
        return [*self.readonly_fields, "slug"] if obj is not None else list(self.readonly_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tenants come from signup / tenant_create (the pool), never a bare INSERT

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deletion is a status plus a retention job, not a row delete

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Tenant) -> str:
        return format_html(
            '<span class="console-badge {}">{}</span>',
            STATUS_LEVEL.get(obj.status, ""),
            obj.get_status_display(),
        )

    # --- detail page ---------------------------------------------------------------------
    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        tenant = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if tenant is not None:
            extra.update(
                usage=selectors.tenant_usage(tenant),
                subscription=selectors.tenant_subscription(tenant),
                operator_actions=selectors.recent_operator_actions(tenant),
                support_url=f"{reverse('admin:index')}support/{tenant.pk}/",
                status_url=reverse("admin:tenants_tenant_status", args=[tenant.pk]),
                plan_url=reverse("admin:billing_tenantplan_change", args=[tenant.pk]),
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:object_id>/status/",
                self.admin_site.admin_view(self.status_view),
                name="tenants_tenant_status",
            ),
            *super().get_urls(),
        ]

    def status_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        tenant = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_change_permission(request, tenant):
            raise PermissionDenied
        initial = {"status": request.GET.get("status") or Tenant.Status.SUSPENDED}
        form = StatusChangeForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                tenant_set_status(
                    tenant=tenant,
                    status=form.cleaned_data["status"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                self.message_user(
                    request, f"{tenant.name} is now {tenant.get_status_display().lower()}.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:tenants_tenant_change", args=[tenant.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change the status of {tenant.name}",
            "opts": self.opts,
            "tenant": tenant,
            "tenants": [tenant],
            "form": form,
        }
        return TemplateResponse(request, "admin/tenants/tenant/status_form.html", context)

    # --- bulk actions (with an intermediate page asking for the reason) -----------------
    def _bulk_status(
        self, request: HttpRequest, queryset: QuerySet[Tenant], status: str
    ) -> HttpResponse | None:
        form = StatusChangeForm(request.POST if "apply" in request.POST else None, initial={"status": status})
        if "apply" in request.POST and form.is_valid():
            changed = 0
            for tenant in queryset:
                tenant_set_status(
                    tenant=tenant, status=status, actor=request.user, reason=form.cleaned_data["reason"]
                )
                changed += 1
            self.message_user(request, f"{changed} tenant(s) now {status}.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Set {queryset.count()} tenant(s) to {status}",
            "opts": self.opts,
            "tenants": list(queryset[:100]),
            "form": form,
            "bulk_action": request.POST.get("action"),
            "status": status,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/tenants/tenant/status_form.html", context)

    @admin.action(description="Suspend selected tenants…", permissions=["change"])
    def suspend_selected(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, Tenant.Status.SUSPENDED)

    @admin.action(description="Reactivate selected tenants…", permissions=["change"])
    def reactivate_selected(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> HttpResponse | None:
        return self._bulk_status(request, queryset, Tenant.Status.ACTIVE)


class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "is_public",
        "monthly_price_cents",
        "max_members",
        "max_agents",
        "sort_order",
    ]
    list_editable = ["sort_order"]
    list_filter = ["is_public"]
    search_fields = ["slug", "name"]
    show_full_result_count = False


def register(site: admin.AdminSite) -> None:
    """Register on `site` unless another module (e.g. tenants/admin.py) already did."""
    for model, model_admin in ((Tenant, TenantAdmin), (Plan, PlanAdmin)):
        if not site.is_registered(model):
            site.register(model, model_admin)


register(admin.site)

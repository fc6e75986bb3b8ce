"""Operator admin for the platform rollout (`migrate_tenants`): per-tenant status.

Kept self-contained so other tenant admin classes can live beside it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from tenants import rollout as rollouts
from tenants.models import Rollout, RolloutTenant


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Rollout)
class RolloutAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "progress", "started_at", "finished_at", "started_by", "tenant_rows"]
    list_filter = ["status"]
    readonly_fields = [
        "status",
        "target_fingerprint",
        "target_count",
        "batch_size",
        "workers",
        "started_by",
        "error",
        "started_at",
        "finished_at",
        "progress",
        "tenant_rows",
    ]
    show_full_result_count = False
    actions = ["resume"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rollout]:
        states = RolloutTenant.Status
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_total=Count("tenants"),
                n_done=Count("tenants", filter=Q(tenants__status__in=[states.MIGRATED, states.SKIPPED])),
                n_failed=Count("tenants", filter=Q(tenants__status=states.FAILED)),
            )
        )

    @admin.display(description="progress")
    def progress(self, obj: Rollout) -> str:
        total = getattr(obj, "n_total", None)
        if total is None:
            counts = rollouts.rollout_counts(obj)
            return ", ".join(f"{k}: {v}" for k, v in counts.items() if v) or "no tenants"
        return f"{getattr(obj, 'n_done', 0)}/{total} done, {getattr(obj, 'n_failed', 0)} failed"

    @admin.display(description="tenants")
    def tenant_rows(self, obj: Rollout) -> str:
        url = reverse("admin:tenants_rollouttenant_changelist") + f"?rollout__id__exact={obj.pk}"
        return format_html('<a href="{}">per-tenant status</a>', url)

    @admin.action(description="Resume (or start) the rollout on a worker")
    def resume(self, request: HttpRequest, queryset: QuerySet[Rollout]) -> None:
        rollouts.rollout_request_resume(actor=request.user)
        self.message_user(request, "Rollout queued; refresh to follow per-tenant status.", messages.INFO)


@admin.register(RolloutTenant)
class RolloutTenantAdmin(ReadOnlyAdmin):
    list_display = [
        "schema_name",
        "rollout",
        "status",
        "is_canary",
        "attempts",
        "duration_ms",
        "backup_path",
        "updated_at",
    ]
    list_filter = ["status", "is_canary", "rollout"]
    search_fields = ["schema_name"]
    list_select_related = ["rollout"]
    raw_id_fields = ["rollout", "tenant"]
    show_full_result_count = False
    readonly_fields = [
        "rollout",
        "tenant",
        "schema_name",
        "is_canary",
        "status",
        "attempts",
        "backup_path",
        "backup_bytes",
        "error",
        "duration_ms",
        "updated_at",
    ]

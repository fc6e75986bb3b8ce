"""Operator admin (public schema): per-tenant counts and KEK status. Never a value."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import connection
from django.http import HttpRequest

from vault import keyring, selectors, services
from vault.models import VaultTenant


@admin.register(VaultTenant)
class VaultTenantAdmin(admin.ModelAdmin):
    change_list_template = "vault/admin/change_list.html"
    list_display = ["name", "schema_name", "status", "secrets", "deleted", "rotation_overdue", "data_keys"]
    list_filter = ["status"]
    search_fields = ["name", "slug", "schema_name"]
    show_full_result_count = False
    list_per_page = 50
    actions = ["rewrap_data_keys"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return getattr(connection, "schema_name", "") == "public" and bool(
            getattr(request.user, "is_staff", False)
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> Any:
        self._summaries: dict[str, dict[str, Any]] = {}
        return super().get_queryset(request).exclude(schema_name="public")

    def _summary(self, obj: VaultTenant) -> dict[str, Any]:
        cache = getattr(self, "_summaries", {})
        if obj.schema_name not in cache:
            cache[obj.schema_name] = selectors.tenant_vault_summary(obj.schema_name)
        return cache[obj.schema_name]

    @admin.display(description="secrets")
    def secrets(self, obj: VaultTenant) -> Any:
        return self._summary(obj).get("secrets", "—")

    @admin.display(description="deleted")
    def deleted(self, obj: VaultTenant) -> Any:
        return self._summary(obj).get("deleted", "—")

    @admin.display(description="rotation overdue")
    def rotation_overdue(self, obj: VaultTenant) -> Any:
        return self._summary(obj).get("overdue", "—")

    @admin.display(description="data keys (KEK)")
    def data_keys(self, obj: VaultTenant) -> str:
        keys = self._summary(obj).get("data_keys") or {}
        primary = keyring.status()["primary"]
        if not keys:
            return "none yet"
        return ", ".join(
            f"{n} × {kek}{'' if kek == primary else ' (stale: re-wrap)'}" for kek, n in keys.items()
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        extra_context = {**(extra_context or {}), "kek_status": keyring.status()}
        return super().changelist_view(request, extra_context)

    @admin.action(description="Re-wrap data keys under the primary KEK")
    def rewrap_data_keys(self, request: HttpRequest, queryset: Any) -> None:
        moved = services.kek_rewrap(
            actor=request.user, schemas=list(queryset.values_list("schema_name", flat=True))
        )
        messages.success(request, f"Re-wrapped {sum(moved.values())} data key(s) in {len(moved)} tenant(s).")

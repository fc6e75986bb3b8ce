"""Admin for identity tables: tokens, service accounts, invitations, backup-code devices.

TOTP devices (django-otp) and lockouts (django-axes) register their own admins. These
tables live in tenant schemas: on the public operator console they are hidden, and they
appear wherever the admin runs inside a tenant's schema (e.g. a support session).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import connection

from tenants.members.models import ApiToken, BackupCodeDevice, Invitation, ServiceAccount


class TenantSchemaAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_module_permission(self, request: Any) -> bool:
        return connection.schema_name != "public" and super().has_module_permission(request)

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return connection.schema_name != "public" and super().has_view_permission(request, obj)


@admin.register(ApiToken)
class ApiTokenAdmin(TenantSchemaAdmin):
    list_display = [
        "prefix",
        "name",
        "user",
        "scopes",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "last_used_ip",
    ]
    list_select_related = ["user"]
    list_filter = ["revoked_at"]
    search_fields = ["prefix", "name", "user__email"]
    raw_id_fields = ["user", "created_by"]
    readonly_fields = ["prefix", "token_hash", "last_used_at", "last_used_ip", "created_at"]

    def has_add_permission(self, request: Any) -> bool:
        return False  # tokens are created by the service, which shows the plaintext once


@admin.register(ServiceAccount)
class ServiceAccountAdmin(TenantSchemaAdmin):
    list_display = ["name", "user", "created_at"]
    list_select_related = ["user"]
    raw_id_fields = ["user", "created_by"]
    search_fields = ["name"]


@admin.register(Invitation)
class InvitationAdmin(TenantSchemaAdmin):
    list_display = ["email", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_select_related = ["invited_by"]
    raw_id_fields = ["invited_by", "accepted_by"]
    search_fields = ["email"]
    readonly_fields = ["token_hash"]


@admin.register(BackupCodeDevice)
class BackupCodeDeviceAdmin(TenantSchemaAdmin):
    list_display = ["user", "name", "confirmed", "remaining"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    exclude = ["code_hashes"]

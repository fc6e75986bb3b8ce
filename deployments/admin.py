"""Admin for deployments: read-mostly, tuned for large tables. Writes go through services."""

from __future__ import annotations

from django.contrib import admin

from deployments.models import (
    Agent,
    DeployRun,
    DeployStep,
    EnrollmentToken,
    Environment,
    Release,
    TerminalSession,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Environment)
class EnvironmentAdmin(ReadOnlyAdmin):
    list_display = ["name", "is_production", "approvals_required", "created_at"]


@admin.register(Agent)
class AgentAdmin(ReadOnlyAdmin):
    list_display = ["name", "environment", "status", "last_seen", "agent_version", "revoked_at"]
    list_filter = ["status", "environment"]
    list_select_related = ["environment"]
    raw_id_fields = ["environment", "enrolled_with", "deployed_release"]


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(ReadOnlyAdmin):
    list_display = ["prefix", "environment", "uses", "max_uses", "expires_at", "revoked_at"]
    list_select_related = ["environment"]
    exclude = ["token_hash"]


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = ["version", "artifact_sha256", "artifact_size", "created_at"]
    search_fields = ["version"]


class DeployStepInline(admin.TabularInline):
    model = DeployStep
    extra = 0
    can_delete = False
    fields = ["name", "state", "started_at", "finished_at", "output"]
    readonly_fields = fields


@admin.register(DeployRun)
class DeployRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "release", "environment", "kind", "status", "created_at", "finished_at"]
    list_filter = ["status", "kind", "environment"]
    list_select_related = ["release", "environment"]
    inlines = [DeployStepInline]


@admin.register(TerminalSession)
class TerminalSessionAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "agent",
        "user",
        "started_at",
        "ended_at",
        "end_reason",
        "commands_run",
        "commands_refused",
    ]
    list_select_related = ["agent", "user"]
    raw_id_fields = ["agent", "user"]

"""Admin of governance (tenant schema): read-mostly views for support; writes go through pages/API."""

from __future__ import annotations

from django.contrib import admin

from compliance.governance.models import (
    AIReviewItem,
    AISystem,
    ConsentRecord,
    DataSubjectRequest,
    Dpia,
    Policy,
    PolicyViolation,
)


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ("name", "action", "enabled", "template", "updated_at")
    list_filter = ("action", "enabled")
    readonly_fields = ("name", "description", "applies_to", "conditions", "action", "enabled", "template")


@admin.register(PolicyViolation)
class PolicyViolationAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "policy_name", "action", "outcome", "actor_label", "resolved")
    list_filter = ("outcome", "resolved")
    show_full_result_count = False
    list_select_related = ("resolved_by",)
    raw_id_fields = ("resolved_by",)

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "received_at", "deadline")
    list_filter = ("kind", "status")

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


admin.site.register(ConsentRecord, list_display=("subject_email", "purpose", "granted", "recorded_at"))
admin.site.register(Dpia, list_display=("title", "risk_level", "status", "review_due"))
admin.site.register(AISystem, list_display=("name", "risk_class", "status"))
admin.site.register(AIReviewItem, list_display=("system", "subject", "status", "submitted_at"))

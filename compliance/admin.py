"""Operators see the public schema's audit chain here (read-only), verify it and sign it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from compliance import services
from compliance.models import AuditCheckpoint, AuditEvent


class _ReadOnly(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(_ReadOnly):
    list_display = ("seq", "occurred_at", "actor_type", "actor_label", "action", "target_label", "ip")
    list_filter = ("actor_type",)
    search_fields = ("=action", "=actor_id", "actor_label", "target_label", "=request_id")
    date_hierarchy = None
    ordering = ("-id",)
    list_per_page = 50
    change_list_template = "compliance/admin/auditevent_change_list.html"

    def get_urls(self) -> list[Any]:
        return [
            path(
                "verify/", self.admin_site.admin_view(self.verify_view), name="compliance_auditevent_verify"
            ),
            path("sign/", self.admin_site.admin_view(self.sign_view), name="compliance_auditevent_sign"),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and self.has_view_permission(request):
            result = services.chain_verify(actor=request.user)
            self.message_user(request, result.summary(), messages.SUCCESS if result.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:compliance_auditevent_changelist"))

    def sign_view(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and self.has_view_permission(request):
            checkpoint = services.checkpoint_sign(actor=request.user)
            self.message_user(request, f"Signed the public chain at seq {checkpoint.seq}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:compliance_auditevent_changelist"))


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(_ReadOnly):
    list_display = ("seq", "kind", "signed_at", "key_id", "hash", "storage_name")
    list_filter = ("kind",)
    ordering = ("-seq", "-id")

"""Tenant self-service pages of compliance: the audit pages here, governance included."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from compliance import views

app_name = "compliance"
urlpatterns: list[URLPattern | URLResolver] = [
    path("audit/", views.event_list, name="audit-events"),
    path("audit/events/<int:pk>/", views.event_detail, name="audit-event"),
    path("audit/verify/", views.chain_verify, name="audit-verify"),
    path("audit/exports/", views.export_list, name="audit-exports"),
    path("audit/exports/<int:pk>/<str:which>/", views.export_download, name="audit-export-file"),
    path("audit/forwarding/", views.forwarder_list, name="audit-forwarders"),
    path("audit/forwarding/<int:pk>/", views.forwarder_detail, name="audit-forwarder"),
    path("audit/forwarding/<int:pk>/retry/", views.forwarder_retry, name="audit-forwarder-retry"),
    path("audit/retention/", views.retention, name="audit-retention"),
    path("", include("compliance.governance.urls")),
]

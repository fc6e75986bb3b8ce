"""API routes of compliance, mounted under /api/v1/compliance/ (audit here, governance included)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from compliance.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("audit/events/", views.EventListView.as_view(), name="audit-events"),
    path("audit/events/<int:pk>/", views.EventDetailView.as_view(), name="audit-event"),
    path("audit/status/", views.StatusView.as_view(), name="audit-status"),
    path("audit/verify/", views.VerifyView.as_view(), name="audit-verify"),
    path("audit/checkpoints/", views.CheckpointListView.as_view(), name="audit-checkpoints"),
    path("audit/exports/", views.ExportListView.as_view(), name="audit-exports"),
    path("audit/exports/<int:pk>/", views.ExportDetailView.as_view(), name="audit-export"),
    path("audit/exports/<int:pk>/<str:which>/", views.ExportFileView.as_view(), name="audit-export-file"),
    path("audit/forwarders/", views.ForwarderListView.as_view(), name="audit-forwarders"),
    path("audit/forwarders/<int:pk>/", views.ForwarderDetailView.as_view(), name="audit-forwarder"),
    path(
        "audit/forwarders/<int:pk>/retry/", views.ForwarderRetryView.as_view(), name="audit-forwarder-retry"
    ),
    path("audit/retention/", views.RetentionView.as_view(), name="audit-retention"),
    path("", include("compliance.governance.api.urls")),
]

"""Governance API under /api/v1/compliance/."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from compliance.governance.api import views

router = SimpleRouter()
router.register("policies", views.PolicyViewSet, basename="governance-policy")
router.register("violations", views.ViolationViewSet, basename="governance-violation")
router.register("dsr", views.DsrViewSet, basename="governance-dsr")
router.register("consent", views.ConsentViewSet, basename="governance-consent")
router.register("dpia", views.DpiaViewSet, basename="governance-dpia")
router.register("ai-systems", views.AISystemViewSet, basename="governance-ai-system")
router.register("ai-reviews", views.ReviewViewSet, basename="governance-ai-review")

urlpatterns = [
    path("frameworks/", views.FrameworkListView.as_view(), name="governance-frameworks"),
    path("reports/<str:key>/", views.ReportView.as_view(), name="governance-report"),
    path("dashboard/", views.DashboardView.as_view(), name="governance-dashboard"),
    *router.urls,
]

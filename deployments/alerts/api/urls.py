"""Alert API, mounted at /api/v1/deployments/alerts/."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from deployments.alerts.api import views

router = SimpleRouter()
router.register("channels", views.ChannelViewSet, basename="alert-channel")
router.register("rules", views.RuleViewSet, basename="alert-rule")
router.register("events", views.EventViewSet, basename="alert-event")
urlpatterns = router.urls

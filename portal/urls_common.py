"""Routes served on every domain: readiness and the API docs."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from portal import health
from portal.api_docs import RedocDocsView, SwaggerDocsView

urlpatterns = [
    path("ready/", health.ready, name="ready"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocDocsView.as_view(url_name="api-schema"), name="api-redoc"),
]

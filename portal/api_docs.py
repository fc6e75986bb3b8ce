"""Swagger UI and Redoc, served from our own static files (drf-spectacular-sidecar).

Both pages run under the portal's strict CSP: Swagger UI's init script is a separate
request (drf-spectacular's split view) loaded with the request's nonce. Redoc injects
`<style>` elements at runtime (styled-components) and builds its search worker from a
blob:, so the Redoc view alone relaxes `style-src` and `worker-src`; its scripts are still
nonce/'self' only.
"""

from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView


class SwaggerDocsView(SpectacularSwaggerSplitView):
    template_name = "api_docs/swagger_ui.html"


@method_decorator(
    # A nonce in style-src would make browsers ignore 'unsafe-inline', so it is replaced.
    csp_replace({"style-src": [SELF, UNSAFE_INLINE], "worker-src": [SELF, "blob:"]}),
    name="dispatch",
)
class RedocDocsView(SpectacularRedocView):
    template_name = "api_docs/redoc.html"

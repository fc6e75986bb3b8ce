"""Platform middleware: request ids, the liveness probe, and the Content-Security-Policy."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from csp import middleware as csp_middleware
from csp.constants import HEADER as CSP_HEADER
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

from portal.context import set_request_meta

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def client_ip(request: HttpRequest) -> str | None:
    from django.conf import settings

    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    proxies = settings.AXES_IPWARE_PROXY_COUNT
    if forwarded and proxies:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


class RequestIDMiddleware:
    """Every request gets an `X-Request-ID` (the caller's, if well-formed) in logs and audit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        # Cleared on `request_finished` (see portal.apps), after Django's own request logging.
        set_request_meta(
            {
                "request_id": request_id,
                "ip": client_ip(request),
                "user_agent": request.META.get("HTTP_USER_AGENT", ""),
            }
        )
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class HealthMiddleware:
    """`/health/` answers liveness before routing, sessions or the database are touched."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/health/":
            return JsonResponse({"status": "ok"})
        return self.get_response(request)


JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"
_JSON_TYPES = ("application/json", "application/problem+json", "application/vnd.oai.openapi+json")


class CSPMiddleware(csp_middleware.CSPMiddleware):
    """django-csp's middleware, with one fixed policy for JSON responses.

    A JSON response is data, never a document that runs scripts or loads anything, so it
    gets the strictest policy there is (as OWASP's REST guidance advises): nothing may load,
    nothing may frame it. That is stricter than the page policy, which is built from
    `CONTENT_SECURITY_POLICY` with a nonce on every response; being a constant, it costs
    nothing on API calls. Pages (HTML, the API docs included) are unchanged, as is a
    response that set its own header or is exempt.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        content_type = response.get("Content-Type", "")
        if not content_type.startswith(_JSON_TYPES) or getattr(response, "_csp_exempt", False):
            return super().process_response(request, response)
        if CSP_HEADER not in response:
            response[CSP_HEADER] = JSON_POLICY
        if getattr(request, "_csp_nonce", None) is None:  # as django-csp: no nonce after the header
            request.csp_nonce = csp_middleware.CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response

"""Platform middleware: request ids and the liveness probe."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

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

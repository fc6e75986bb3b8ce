"""django-axes glue: the username a lockout is keyed on (with the client IP).

allauth authenticates with `email=`, the operator admin with `username=`, and the login
form posts `login`; axes' default only looks at one field name, so we resolve all three
and normalise case (otherwise `Alice@…` and `alice@…` would be two counters).
"""

from __future__ import annotations

from typing import Any


def axes_username(request: Any, credentials: dict[str, Any] | None) -> str:
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username") or credentials.get("login")
    if not value and request is not None and hasattr(request, "POST"):
        value = request.POST.get("login") or request.POST.get("username") or request.POST.get("email")
    return str(value or "").strip().lower()


def axes_client_ip(request: Any) -> str | None:
    """The same client address as audit events and token last-use (portal.middleware.client_ip):
    `X-Forwarded-For` is trusted for exactly PROXY_COUNT hops, else REMOTE_ADDR."""
    from portal.middleware import client_ip

    return client_ip(request)

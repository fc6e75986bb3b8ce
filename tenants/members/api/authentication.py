"""DRF authentication: personal/service-account API tokens, and sessions with CSRF.

`Authorization: Bearer tnt_…` (or `Token tnt_…`). One query: token + user + service
account profile. Every check (revoked, expired, inactive user, IP allow-list) happens on
each request against that fresh row, so revocation and deactivation apply at once.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from portal.middleware import client_ip
from tenants.members import tokens


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("bearer", "token")

    def authenticate(self, request: Any) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as: Authorization: Bearer <token>.")
        plaintext = header[1].decode(errors="replace")
        if connection.schema_name == "public":
            # Tokens belong to a tenant; the public domain has none.
            raise exceptions.AuthenticationFailed("API tokens work on your tenant's domain only.")
        token = tokens.token_lookup(plaintext)
        ip = client_ip(request._request)
        if token is None:
            tokens.token_rejected(reason="unknown", prefix=plaintext[:12])
            raise exceptions.AuthenticationFailed("Invalid API token.")
        reason = self._refusal(token, ip)
        if reason:
            tokens.token_rejected(reason=reason, prefix=token.prefix)
            raise exceptions.AuthenticationFailed(f"API token refused: {reason}.")
        tokens.token_touch(token=token, ip=ip)
        return token.user, token

    @staticmethod
    def _refusal(token: Any, ip: str | None) -> str:
        if token.revoked_at is not None:
            return "revoked"
        if not token.is_live:
            return "expired"
        if not token.user.is_active:
            return "account inactive"
        account = getattr(token.user, "service_account", None) if token.user.is_service_account else None
        if account is not None and not tokens.ip_allowed(account.allowed_ips, ip):
            return "address not allowed"
        return ""

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """The browser path: the portal session, with DRF's CSRF check on unsafe methods."""


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.members.api.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal or service-account API token (tnt_…), with scopes.",
        }


class CsrfSessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.members.api.authentication.CsrfSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}

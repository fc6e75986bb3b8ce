"""Who is asking: step-up MFA for members, the `vault` scope for API tokens.

Service accounts are users with `is_service_account` (tenants.members); their API tokens
carry `scopes` on `request.auth`. A session request has no token, so no scope narrows it.
"""

from __future__ import annotations

from typing import Any

from tenants.members.mfa import step_up_fresh
from vault.errors import ScopeMissing, StepUpRequired

VAULT_SCOPE = "vault"


def is_service_account(request: Any) -> bool:
    return bool(getattr(getattr(request, "user", None), "is_service_account", False))


def token_scopes(request: Any) -> frozenset[str] | None:
    scopes = getattr(getattr(request, "auth", None), "scopes", None)
    return None if scopes is None else frozenset(scopes)


def require_vault_scope(request: Any) -> None:
    """Service accounts always come with a token; that token must carry `vault`."""
    scopes = token_scopes(request)
    if scopes is None or VAULT_SCOPE not in scopes:
        raise ScopeMissing()


def require_step_up(request: Any) -> None:
    if getattr(request, "auth", None) is not None:
        # A member's personal token cannot prove a fresh OTP: reveal needs the browser session.
        raise StepUpRequired()
    session = getattr(request, "session", None)
    if session is None or not step_up_fresh(session):
        raise StepUpRequired()

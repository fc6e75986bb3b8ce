"""The one permission layer: views, the API, consumers and services all ask here.

Roles are re-read from the database on every request (the user row is loaded fresh by the
session middleware and carries `role` and `is_active`), so a demotion or deactivation takes
effect on the next request, websocket message or API call.

Usage:
    authorize(user, "vault.reveal", secret)       # raises PermissionDenied
    has_perm(user, "deploy.run")                  # bool
    @permission_required("members.manage")        # page views
    permission_classes = [HasPermission]          # DRF; set `required_permission` (str or {action: perm})

Apps add object-level rules with `object_rule("vault.reveal")`, e.g. "developers may only
reveal non-production secrets". The rule runs after the role check passes.

API tokens carry scopes (read, write, deploy, vault). A request authenticated by a token
is limited to the intersection of its user's role and the token's scopes:
`HasPermission` checks both; `TokenScope` (a default DRF permission) checks views that
declare no permission; `require_scope(request, "vault")` is the explicit helper.
Session requests carry no token, so scopes do not narrow them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from rest_framework.permissions import BasePermission

OWNER, ORG_ADMIN, AUDITOR, OPERATOR, DEVELOPER, VIEWER = (
    "owner",
    "org_admin",
    "auditor",
    "operator",
    "developer",
    "viewer",
)
ADMINS = frozenset({OWNER, ORG_ADMIN})
EVERYONE = frozenset({OWNER, ORG_ADMIN, AUDITOR, OPERATOR, DEVELOPER, VIEWER})

# permission → roles holding it. "*.read" permissions include the auditor: read-only on everything.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    # members, billing, SSO, policies
    "members.read": EVERYONE,
    "members.manage": ADMINS,
    "billing.read": ADMINS | {AUDITOR},
    "billing.manage": ADMINS,
    "sso.manage": ADMINS,
    "tokens.manage_own": EVERYONE,
    "service_accounts.manage": ADMINS,
    # compliance
    "audit.read": ADMINS | {AUDITOR},
    "audit.export": ADMINS | {AUDITOR},
    "reports.read": ADMINS | {AUDITOR},
    "policies.read": EVERYONE,
    "policies.manage": ADMINS,
    "privacy.read": ADMINS | {AUDITOR},
    "privacy.manage": ADMINS,
    # vault (object rules narrow developers to non-production)
    "vault.read": EVERYONE,
    "vault.write": ADMINS | {DEVELOPER},
    "vault.reveal": ADMINS | {OPERATOR, DEVELOPER},
    "vault.destroy": ADMINS,
    "vault.admin": ADMINS,
    # deployments
    "deployments.read": EVERYONE,
    "agents.manage": ADMINS,
    "environments.manage": ADMINS,
    "releases.manage": ADMINS | {DEVELOPER},
    "releases.rotate_key": ADMINS,
    "deploy.run": ADMINS | {OPERATOR},
    "deploy.approve": ADMINS | {OPERATOR},
    "terminal.open": ADMINS | {OPERATOR},
    "alerts.manage": ADMINS | {OPERATOR},
}

SCOPE_READ, SCOPE_WRITE, SCOPE_DEPLOY, SCOPE_VAULT = "read", "write", "deploy", "vault"
SCOPES = (SCOPE_READ, SCOPE_WRITE, SCOPE_DEPLOY, SCOPE_VAULT)
# Permission prefix → the scope a token needs, whatever the HTTP method. Anything else
# needs `read` for safe methods and `write` for the others.
SCOPE_BY_PREFIX: tuple[tuple[str, str], ...] = (
    ("vault.", SCOPE_VAULT),
    ("deploy.", SCOPE_DEPLOY),
    ("releases.", SCOPE_DEPLOY),
    ("terminal.", SCOPE_DEPLOY),
)
SAFE_HTTP_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

ObjectRule = Callable[[Any, Any], bool]
_OBJECT_RULES: dict[str, list[ObjectRule]] = {}


def object_rule(permission: str) -> Callable[[ObjectRule], ObjectRule]:
    def register(rule: ObjectRule) -> ObjectRule:
        _OBJECT_RULES.setdefault(permission, []).append(rule)
        return rule

    return register


def role_of(actor: Any) -> str:
    return getattr(actor, "role", "") or ""


def has_perm(actor: Any, permission: str, obj: Any = None) -> bool:
    if permission not in ROLE_PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    if (
        actor is None
        or not getattr(actor, "is_authenticated", False)
        or not getattr(actor, "is_active", False)
    ):
        return False
    if role_of(actor) not in ROLE_PERMISSIONS[permission]:
        return False
    if obj is not None:
        return all(rule(actor, obj) for rule in _OBJECT_RULES.get(permission, []))
    return True


def authorize(actor: Any, permission: str, obj: Any = None) -> None:
    if not has_perm(actor, permission, obj):
        raise PermissionDenied(f"Your role does not allow {permission}.")


def scope_for(permission: str | None, method: str) -> str:
    for prefix, scope in SCOPE_BY_PREFIX:
        if permission and permission.startswith(prefix):
            return scope
    return SCOPE_READ if method.upper() in SAFE_HTTP_METHODS else SCOPE_WRITE


def token_scopes(request: Any) -> frozenset[str] | None:
    """The scopes of the API token behind this request, or None when no token is involved."""
    scopes = getattr(getattr(request, "auth", None), "scopes", None)
    return None if scopes is None else frozenset(scopes)


def token_allows(request: Any, scope: str) -> bool:
    scopes = token_scopes(request)
    return scopes is None or scope in scopes


def require_scope(request: Any, scope: str) -> None:
    """For views and services called from the API: refuse a token that lacks `scope`."""
    if not token_allows(request, scope):
        raise PermissionDenied(f"This API token lacks the {scope!r} scope.")


def permission_required(
    permission: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Page-view decorator: anonymous → login page, wrong role → 403 page."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect(f"/accounts/login/?next={request.path}")
            authorize(request.user, permission)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class HasPermission(BasePermission):
    """DRF: `required_permission = "vault.read"` or `{"list": "vault.read", "create": "vault.write"}`."""

    message = "Your role does not allow this action."

    def _required(self, view: Any) -> str | None:
        required = getattr(view, "required_permission", None)
        if isinstance(required, dict):
            action = getattr(view, "action", None) or view.request.method.lower()
            return required.get(action) or required.get("*")
        return required

    def has_permission(self, request: Any, view: Any) -> bool:
        permission = self._required(view)
        if permission is None or not has_perm(request.user, permission):
            return False
        if not token_allows(request, scope_for(permission, request.method)):
            self.message = f"This API token lacks the {scope_for(permission, request.method)!r} scope."
            return False
        return True

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        permission = self._required(view)
        return permission is not None and has_perm(request.user, permission, obj)


class TokenScope(BasePermission):
    """DRF default: a token request needs the view's `required_scope` (str or {action: scope}),
    else `read` for safe methods and `write` for the others. Sessions pass."""

    message = "This API token lacks the scope this action needs."

    def has_permission(self, request: Any, view: Any) -> bool:
        if token_scopes(request) is None:
            return True
        required = getattr(view, "required_scope", None)
        if isinstance(required, dict):
            action = getattr(view, "action", None) or request.method.lower()
            required = required.get(action) or required.get("*")
        return token_allows(request, required or scope_for(None, request.method))

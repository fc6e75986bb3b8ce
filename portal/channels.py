"""Tenant context for Channels.

django-tenants has no Channels support (#767, #931, #1143). Two pieces fill the gap:

- `TenantHostMiddleware` maps the Host header to a tenant (through the same cached
  lookup as HTTP) and puts it in `scope["tenant"]`; unknown or non-serving hosts are
  closed before any consumer runs.
- `TenantAuthMiddleware` loads the session and user *inside that tenant's schema*.

django-tenants keeps the tenant on the thread's connection, and the thread that
`database_sync_to_async` uses starts on `public`. So every database call a consumer makes
must switch schema in the same sync call: use `tenant_sync` (decorator) or `run_in_tenant`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django_tenants.utils import tenant_context

from tenants.routing import hostname_from_header, tenant_for_hostname

T = TypeVar("T")


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return ""


class TenantHostMiddleware:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        hostname = hostname_from_header(_header(scope, b"host"))
        tenant = await database_sync_to_async(tenant_for_hostname)(hostname) if hostname else None
        if tenant is None or tenant.schema_name == "public" or not tenant.is_serving:
            return await WebsocketDenier.as_asgi()(scope, receive, send)
        return await self.inner(dict(scope, tenant=tenant), receive, send)


def _load_session_user(tenant: Any, session_key: str | None) -> tuple[Any, Any]:
    from importlib import import_module

    from django.contrib.auth import get_user
    from django.http import HttpRequest

    engine = import_module(settings.SESSION_ENGINE)
    with tenant_context(tenant):
        request = HttpRequest()
        request.session = engine.SessionStore(session_key)
        user = get_user(request) if session_key else AnonymousUser()
        if getattr(user, "is_authenticated", False):
            from tenants.members.mfa import session_passes_mfa_gate

            # The HTTP MFA middleware does not run for websockets: a member who has (or
            # must have) a second factor but has not passed the challenge in this session
            # is anonymous here.
            if not session_passes_mfa_gate(request.session, user):
                return request.session, AnonymousUser()
            # Touch the role now, inside the schema, so consumers never lazy-load later.
            _ = user.role
        return request.session, user


class TenantAuthMiddleware:
    """Session + user for websocket scopes, resolved inside the tenant's schema."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        cookies = SimpleCookie(_header(scope, b"cookie"))
        morsel = cookies.get(settings.SESSION_COOKIE_NAME)
        session, user = await database_sync_to_async(_load_session_user)(
            scope["tenant"], morsel.value if morsel else None
        )
        return await self.inner(dict(scope, session=session, user=user), receive, send)


async def run_in_tenant(tenant: Any, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `func` in a sync thread with the tenant's schema active for the whole call."""

    def call() -> T:
        with tenant_context(tenant):
            return func(*args, **kwargs)

    return await database_sync_to_async(call)()


def tenant_sync(method: Callable[..., T]) -> Callable[..., Any]:
    """Decorate a consumer's sync method: it runs off the event loop, in the scope's tenant."""

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        return await run_in_tenant(self.scope["tenant"], method, self, *args, **kwargs)

    return wrapper

"""Authentication backends: Django's and allauth's, with the session's user read cheaply.

`get_user` runs on every signed-in request (and websocket connect). It reads the user row
through `portal.rows` (one SELECT, no ORM query compilation) and applies the same rule as
Django's `ModelBackend`: no row, or an inactive member, is no user. Signing in (`authenticate`)
is unchanged.

When the session also names an OTP device, `tenants.members.middleware.OTPMiddleware` reads
the user and the device in one joined SELECT and offers the user row here (`offered_user`);
`get_user` takes it only for the same id, and applies the same rule to it. Everything else
Django's `auth.get_user` does (the backend named in the session, the session hash) is
unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from allauth.account import auth_backends as allauth_backends
from django.contrib.auth import backends as django_backends
from django.contrib.auth import get_user_model

from portal import rows

# What `login(..., backend=…)` records in the session for password sign-ins that bypass
# `authenticate()` (signup, invitation acceptance).
MODEL_BACKEND = "portal.accounts.backends.ModelBackend"
_offered: ContextVar[Any] = ContextVar("offered_user", default=None)


@contextmanager
def offered_user(user: Any) -> Iterator[None]:
    """While inside, `get_user(user.pk)` uses `user` (a row just read) instead of reading it."""
    token = _offered.set(user)
    try:
        yield
    finally:
        _offered.reset(token)


class _SessionUserMixin:
    def get_user(self, user_id: Any) -> Any:
        offered = _offered.get()
        if offered is not None and str(offered.pk) == str(user_id):
            user = offered
        else:
            user = rows.get_by_pk(get_user_model(), user_id)
        return user if user is not None and self.user_can_authenticate(user) else None  # type: ignore[attr-defined]


class ModelBackend(_SessionUserMixin, django_backends.ModelBackend):
    pass


class AuthenticationBackend(_SessionUserMixin, allauth_backends.AuthenticationBackend):
    pass

"""Authentication backends: Django's and allauth's, with the session's user read cheaply.

`get_user` runs on every signed-in request (and websocket connect). It reads the user row
through `portal.rows` (one SELECT, no ORM query compilation) and applies the same rule as
Django's `ModelBackend`: no row, or an inactive member, is no user. Signing in (`authenticate`)
is unchanged.
"""

from __future__ import annotations

from typing import Any

from allauth.account import auth_backends as allauth_backends
from django.contrib.auth import backends as django_backends
from django.contrib.auth import get_user_model

from portal import rows

# What `login(..., backend=…)` records in the session for password sign-ins that bypass
# `authenticate()` (signup, invitation acceptance).
MODEL_BACKEND = "portal.accounts.backends.ModelBackend"


class _SessionUserMixin:
    def get_user(self, user_id: Any) -> Any:
        user = rows.get_by_pk(get_user_model(), user_id)
        return user if user is not None and self.user_can_authenticate(user) else None  # type: ignore[attr-defined]


class ModelBackend(_SessionUserMixin, django_backends.ModelBackend):
    pass


class AuthenticationBackend(_SessionUserMixin, allauth_backends.AuthenticationBackend):
    pass

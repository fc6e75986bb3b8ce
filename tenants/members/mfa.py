"""MFA session state (django-otp). Step-up = an OTP entered within STEP_UP_SECONDS."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

STEP_UP_SESSION_KEY = "mfa_verified_at"


def session_mark_verified(session: Any, user: Any) -> None:
    session[STEP_UP_SESSION_KEY] = time.time()


def step_up_fresh(session: Any) -> bool:
    verified_at = session.get(STEP_UP_SESSION_KEY)
    return bool(verified_at) and time.time() - float(verified_at) <= settings.STEP_UP_SECONDS

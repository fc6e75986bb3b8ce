"""Per-request context (request id, client IP, user agent) kept in contextvars.

Set by `RequestIDMiddleware`; read by logging and by `audit.record`. Works the same in
sync views, async consumers and Celery tasks (which set their own request id).
"""

from __future__ import annotations

import contextvars
from typing import Any

_request_meta: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "request_meta", default=None
)


def current_request_meta() -> dict[str, Any]:
    return _request_meta.get() or {}


def set_request_meta(meta: dict[str, Any]) -> contextvars.Token:
    return _request_meta.set(meta)


def clear_request_meta(**_: Any) -> None:
    _request_meta.set(None)

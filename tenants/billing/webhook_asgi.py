"""The Stripe webhook's fast path: `POST /billing/webhook/` answered at the ASGI layer.

Django's ASGI handler runs the whole synchronous middleware stack and view of every request
in one thread (`thread_sensitive`), so at concurrency 8 acknowledgements queue behind each
other. A webhook needs none of that stack (no session, user, CSRF, tenant routing, CSP or
templates), so `WebhookFastPath` answers it in the event loop:

1. read the body; check the Host against `ALLOWED_HOSTS`;
2. `webhooks.event_verify` (`stripe.Webhook.construct_event`, 300 s tolerance, every secret);
3. one `INSERT … ON CONFLICT (event_id) DO NOTHING RETURNING id` on an autocommit connection
   from an async psycopg pool (so the row is committed before the 2xx);
4. answer 200 (`{"received": id, "duplicate": bool}`), the same body as the Django view;
5. after the answer, new event ids go to a per-process queue; a flusher publishes one
   `webhook_events_process` task per batch (up to `BATCH` ids) from a worker thread.

If the process dies between the INSERT and the publish, or the broker is down, the event
stays `pending` and the beat job `webhook_events_sweep` queues it (exactly once is kept by
`webhooks.event_process`, which locks the row and checks its status). Everything else —
other paths and methods — goes to Django unchanged. The Django view (`views.webhook`) stays
for the test client and any non-ASGI server; both share `event_verify` and `INSERT_SQL`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from django.http.request import split_domain_port, validate_host
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from tenants.billing import webhooks

log = logging.getLogger("tenants.billing.webhooks")

WEBHOOK_PATH = "/billing/webhook/"
BATCH = 50
# One connection per concurrent acknowledgement: each holds its connection for a commit's WAL
# flush, and concurrent commits share flushes (group commit) only if they can run at once.
POOL_MAX = 8
# Events arriving within this window share one task publish (processing may start later;
# the acknowledgement never waits for it).
COALESCE_SECONDS = 0.01
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,64}$")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _LoopState:
    """The async pool, the publish queue and its flusher, per event loop."""

    def __init__(self) -> None:
        self.pool: AsyncConnectionPool | None = None
        self.lock = asyncio.Lock()
        self.pending: list[int] = []  # stored, acknowledged, not yet handed to the publisher
        self.wakeup = asyncio.Event()
        self.flusher: asyncio.Task[None] | None = None


_states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()


def _state() -> _LoopState:
    loop = asyncio.get_running_loop()
    state = _states.get(loop)
    if state is None:
        state = _states[loop] = _LoopState()
    return state


def conninfo() -> str:
    """libpq connection string of the `default` database (read now: tests rename it)."""
    db = connections["default"].settings_dict
    params: dict[str, Any] = {
        "dbname": db.get("NAME"),
        "user": db.get("USER"),
        "password": db.get("PASSWORD"),
        "host": db.get("HOST"),
        "port": db.get("PORT"),
    }
    for key, value in (db.get("OPTIONS") or {}).items():
        if key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name"):
            params[key] = value
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v not in (None, "")})


async def _pool(state: _LoopState) -> AsyncConnectionPool:
    if state.pool is None:
        async with state.lock:
            if state.pool is None:
                pool = AsyncConnectionPool(
                    conninfo(),
                    min_size=1,
                    max_size=POOL_MAX,
                    kwargs={"autocommit": True},
                    timeout=5.0,
                    open=False,
                    name="billing-webhooks",
                )
                await pool.open()
                state.pool = pool
    return state.pool


async def event_store_async(event: dict[str, Any]) -> int | None:
    """`webhooks.event_store`, on the async pool: the row id when new, None for a duplicate."""
    pool = await _pool(_state())
    async with pool.connection() as conn:
        cursor = await conn.execute(webhooks.INSERT_SQL, webhooks.insert_params(event))
        row = await cursor.fetchone()
    return row[0] if row else None


def _publish(pks: list[int]) -> None:
    from tenants.billing import tasks

    try:
        for start in range(0, len(pks), BATCH):
            tasks.webhook_events_process.delay(pks[start : start + BATCH])
    finally:
        connections.close_all()  # only eager tasks (tests) open one in this thread


async def _flush(state: _LoopState) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await state.wakeup.wait()
        await asyncio.sleep(COALESCE_SECONDS)
        state.wakeup.clear()
        pks, state.pending = state.pending, []
        try:
            await loop.run_in_executor(None, _publish, pks)
        except Exception:
            # Stored and acknowledged already: the sweep (beat) queues them.
            log.exception("could not queue %d webhook event(s); the sweep will", len(pks))


def queue_processing(pk: int) -> None:
    state = _state()
    state.pending.append(pk)
    state.wakeup.set()
    if state.flusher is None or state.flusher.done():
        state.flusher = asyncio.get_running_loop().create_task(_flush(state))


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body; None when the client went away; `_TooLarge` past `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: dict[str, Any], request_id: bytes) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"cache-control", b"no-store"),
                (b"x-request-id", request_id),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def webhook(scope: Scope, receive: Receive, send: Send) -> None:
    headers = dict(scope.get("headers") or [])
    incoming = headers.get(b"x-request-id", b"")
    request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex.encode()
    host, _port = split_domain_port(headers.get(b"host", b"").decode("latin-1"))
    if not host or not validate_host(host, settings.ALLOWED_HOSTS):
        await _answer(send, 400, {"error": "bad host"}, request_id)
        return
    try:
        body = await _read_body(receive, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440)
    except _TooLarge:
        await _answer(send, 413, {"error": "payload too large"}, request_id)
        return
    if body is None:
        return  # the client went away
    signature = headers.get(b"stripe-signature", b"").decode("latin-1")
    try:
        event = webhooks.event_verify(body, signature)
        pk = await event_store_async(event)
    except webhooks.WebhookRejected as exc:
        log.warning("stripe webhook rejected: %s", exc)
        await _answer(send, 400, {"error": "invalid webhook"}, request_id)
        return
    except psycopg.DataError:  # e.g. a \u0000 escape, which jsonb refuses
        log.warning("stripe webhook rejected: payload not storable")
        await _answer(send, 400, {"error": "invalid webhook"}, request_id)
        return
    except (psycopg.OperationalError, PoolTimeout):
        log.exception("stripe webhook: database unavailable")
        await _answer(send, 503, {"error": "try again"}, request_id)  # Stripe retries
        return
    await _answer(send, 200, {"received": event["id"], "duplicate": pk is None}, request_id)
    if pk is not None:
        queue_processing(pk)


async def shutdown() -> None:
    """Publish what is queued and close this loop's pool (tests; a server just exits)."""
    state = _states.pop(asyncio.get_running_loop(), None)
    if state is None:
        return
    if state.flusher is not None:
        state.flusher.cancel()
    pks, state.pending = state.pending, []
    if pks:
        await asyncio.get_running_loop().run_in_executor(None, _publish, pks)
    if state.pool is not None:
        await state.pool.close()


class WebhookFastPath:
    """ASGI wrapper: the webhook POST is answered here, everything else by `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == WEBHOOK_PATH:
            await webhook(scope, receive, send)
        else:
            await self.app(scope, receive, send)

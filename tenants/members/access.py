"""A per-member access version in Redis, bumped when a member's role or active flag changes.

Long-lived connections (the deployments websocket consumers) read it on every group
message: one Redis GET. Only when it differs from what they saw at their last check do
they re-read the member from the database and re-check the permission, so a demotion or
deactivation cuts a socket off at its next message without a query per message.

The bump happens on commit (a rolled-back change bumps nothing). A failed read counts as
"changed", so a Redis hiccup costs a database check, never a missed revocation.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.db import connection, transaction

log = logging.getLogger(__name__)

TTL_SECONDS = 30 * 86400  # an expired counter reads as changed: one extra check, nothing worse
UNKNOWN = -1

_sync_client: redis.Redis | None = None
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)


def _key(schema: str, user_id: Any) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:access-version:{schema}:{user_id}"


def _client() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return _sync_client


def _async_client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return client


def access_version_bump(user_id: Any, *, schema: str | None = None) -> None:
    """After the current transaction commits, mark the member's access as changed."""
    key = _key(schema or connection.schema_name, user_id)

    def bump() -> None:
        try:
            pipe = _client().pipeline()
            pipe.incr(key)
            pipe.expire(key, TTL_SECONDS)
            pipe.execute()
        except redis.RedisError:
            log.exception("access version bump failed for %s", key)

    transaction.on_commit(bump)


class _Batch:
    """Keys asked for during one event-loop iteration, fetched with one MGET at its end.

    Every caller registered before the MGET is issued, so each caller's message was received
    before the read: a bump committed before that message was sent is always seen.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.keys: dict[str, asyncio.Future[int]] = {}
        task = loop.create_task(self._fetch())  # first runs in the next loop iteration
        _fetching.add(task)
        task.add_done_callback(_fetching.discard)

    async def _fetch(self) -> None:
        if _batches.get(asyncio.get_running_loop()) is self:
            del _batches[asyncio.get_running_loop()]
        keys = list(self.keys)
        try:
            versions = [int(value or 0) for value in await _async_client().mget(keys)]
        except Exception:  # Redis down or garbage: "changed", so callers do the full check
            log.warning("access version read failed; falling back to database checks", exc_info=True)
            versions = [UNKNOWN] * len(keys)
        for key, version in zip(keys, versions, strict=True):
            if not self.keys[key].done():
                self.keys[key].set_result(version)


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batch] = weakref.WeakKeyDictionary()
_fetching: set[asyncio.Task] = set()


async def access_version_aget(schema: str, user_id: Any) -> int:
    """The member's current access version (UNKNOWN if Redis cannot say).

    Reads made in the same loop iteration share one MGET: ten viewers of one log stream
    cost one Redis round trip per message, not ten.
    """
    loop = asyncio.get_running_loop()
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = _Batch(loop)
    key = _key(schema, user_id)
    future = batch.keys.get(key)
    if future is None:
        future = batch.keys[key] = loop.create_future()
    return await future

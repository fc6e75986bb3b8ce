"""Log batches reach viewers by reference.

The agent socket stores a batch's JSON text once in Redis (`chunk_put`) and the channel layer
carries only its key, so fanning a batch out to N viewers moves one copy through Redis
instead of N, and each portal process fetches a batch once for all of its viewers
(`chunk_get` shares one GET between the viewers that ask for the same key). Keys are random
and reach only the members of the batch's (tenant-scoped) group; they expire like channel
layer messages. If Redis cannot store a batch, the event carries the text itself; if a
viewer cannot fetch one, it counts the lines as dropped.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

log = logging.getLogger(__name__)

TTL_SECONDS = 30  # like the channel layer's message expiry
SHARE_SECONDS = 2.0  # how long a fetched batch is shared with this process's other viewers

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()
_fetched: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[str | None]]] = (
    weakref.WeakKeyDictionary()
)
_tasks: set[asyncio.Task] = set()


def _client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return client


async def chunk_put(chunk: str) -> str | None:
    """Store a batch's text; its key, or None when Redis is unavailable."""
    key = f"{settings.REDIS_KEY_PREFIX}:logchunk:{uuid.uuid4().hex}"
    try:
        await _client().set(key, chunk, ex=TTL_SECONDS)
    except (redis.RedisError, OSError):
        log.warning("log batch not stored for fan-out; sending it inline", exc_info=True)
        return None
    return key


async def _fetch(key: str, future: asyncio.Future[str | None]) -> None:
    try:
        raw = await _client().get(key)
        value = raw.decode() if isinstance(raw, bytes) else raw
    except Exception:  # a viewer must never hang on a failed fetch
        log.warning("log batch fetch failed", exc_info=True)
        value = None
    if not future.done():
        future.set_result(value)


async def chunk_get(key: str) -> str | None:
    """A batch's text (None if it expired or Redis failed), fetched once per process."""
    loop = asyncio.get_running_loop()
    fetched = _fetched.setdefault(loop, {})
    future = fetched.get(key)
    if future is None:
        future = fetched[key] = loop.create_future()
        task = loop.create_task(_fetch(key, future))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
        loop.call_later(SHARE_SECONDS, fetched.pop, key, None)
    return await asyncio.shield(future)

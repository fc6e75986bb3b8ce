"""Process-local caches that every process clears at once.

Some lookups run on nearly every request and change rarely: the Host → tenant routing
(`tenants.routing`) and a tenant's enabled policies (`compliance.governance.engine`). Each
keeps its entries in a `LocalCache` here, so a hit costs no network round trip at all.

When the data behind a cache changes, the process that changed it calls `invalidate()`:
the cache is cleared here at once, and again when the change commits, and at commit the
cache's name is published on one Redis channel per installation. Every process keeps one
listener thread subscribed to that channel, which clears the named cache on each message.
So a suspension or a newly enabled blocking policy reaches every process within a Redis
round trip, not a TTL.

Entries still expire after the cache's `seconds`. That is the bound while the listener is
cut off from Redis (it reconnects by itself, and clears every cache when it is back, in
case it missed a message) or when the data was changed behind the services' back (a raw
`UPDATE`). A message carries only a cache name: it can cause a cache miss, never put
anything in a cache. A load that overlapped a clear is not kept, so a read of the old row
that finishes after the message cannot bring the old value back.

`LOCAL_CACHE_PUBSUB=false` switches the announcements and listener off (the TTL alone).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
_caches: dict[str, LocalCache] = {}
_lock = threading.Lock()
_listener: threading.Thread | None = None
subscribed = threading.Event()  # set while the listener is subscribed (tests wait on it)


class LocalCache:
    """A dict of entries with a time to live, cleared in every process by `invalidate()`."""

    def __init__(self, name: str, *, seconds: Callable[[], float], max_entries: int = 50_000) -> None:
        self.name = name
        self.seconds = seconds  # read on each store, so tests and settings can change it
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._generation = 0  # bumped by every clear: a load that overlapped one is not kept
        self._lock = threading.Lock()
        _caches[name] = self

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The entry for `key`, or `load()`'s result (kept unless a clear overlapped it)."""
        if _listener is None and settings.LOCAL_CACHE_PUBSUB:
            listener_start()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] >= now:
            return entry[1]
        generation = self._generation
        value = load()
        with self._lock:
            if generation == self._generation:  # no clear while we read: the value is current
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (now + self.seconds(), value)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def clear(self) -> None:
        """Forget every entry in this process."""
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def invalidate(self) -> None:
        """The data changed: clear here now, and here and everywhere once it commits."""
        self.clear()
        transaction.on_commit(self.announce)

    def announce(self) -> None:
        """Clear this process's entries and tell every other process to clear theirs."""
        self.clear()
        publish(self.name, stale_for=self.seconds())


def clear_all() -> None:
    for cache in list(_caches.values()):
        cache.clear()


def channel() -> str:
    """The Redis channel of this installation: its key prefix and a digest of its Redis URL
    (so each Redis database has its own, and a password in the URL never shows in
    `PUBSUB CHANNELS` or `CLIENT LIST`)."""
    server = hashlib.sha256(settings.REDIS_URL.encode()).hexdigest()[:16]
    return f"{settings.REDIS_KEY_PREFIX}:local-caches:{server}"


def publish(name: str, *, stale_for: float) -> None:
    """Publish `name` on the channel.

    Its own short-lived connection with short timeouts, not the cache's pool (which has
    none): announcements are rare, and a Redis outage must not hold up a commit for long."""
    if not settings.LOCAL_CACHE_PUBSUB:
        return
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.publish(channel(), name.encode())
        finally:
            client.close()
    except redis.RedisError:
        log.warning(
            "could not announce a change to the %s cache; other processes see it within %ss",
            name,
            stale_for,
            exc_info=True,
        )


def _on_message(data: bytes) -> None:
    cache = _caches.get(data.decode(errors="replace"))
    if cache is not None:
        cache.clear()
    else:  # a name this process does not know (another version): clear everything
        clear_all()


def listener_start() -> None:
    """Start this process's listener thread (once; again in a forked child)."""
    global _listener
    with _lock:
        if _listener is None:
            _listener = threading.Thread(target=_listen, name="local-cache-listener", daemon=True)
            _listener.start()


def _forget_listener_after_fork() -> None:
    global _listener
    _listener = None
    subscribed.clear()


os.register_at_fork(after_in_child=_forget_listener_after_fork)


def _subscribe() -> tuple[Any, Any]:
    """A Redis client and its pub/sub, subscribed to `channel()` once Redis has confirmed it.

    The caller keeps the client: when a redis-py client is collected it disconnects its
    pool, the pub/sub's connection included, and messages sent before the pub/sub
    reconnects would be lost.
    """
    client = redis.Redis.from_url(
        settings.REDIS_URL, health_check_interval=30, client_name=f"local-caches-{os.getpid()}"
    )
    pubsub = client.pubsub()
    pubsub.subscribe(channel())
    for _ in range(3):
        message = pubsub.get_message(timeout=10)
        if message is not None and message["type"] == "subscribe":
            return client, pubsub
    pubsub.close()
    client.close()
    raise redis.ConnectionError("Redis did not confirm the subscription")


def _listen() -> None:
    failures = 0
    while True:
        client = pubsub = None
        try:
            client, pubsub = _subscribe()
            clear_all()  # whatever was announced while we were not listening
            subscribed.set()
            failures = 0
            while True:
                message = pubsub.get_message(timeout=30)  # pings Redis every 30 s meanwhile
                if message is None:
                    continue
                if message["type"] == "message":
                    _on_message(message["data"])
                elif message["type"] == "subscribe":
                    # redis-py resubscribed after it reconnected by itself: something may have
                    # been announced in between.
                    clear_all()
        except Exception:  # Redis is away or dropped us: entries still expire; try again
            subscribed.clear()
            failures += 1
            level = logging.WARNING if failures == 1 else logging.DEBUG  # once per outage
            log.log(level, "local cache listener lost Redis; reconnecting", exc_info=True)
            time.sleep(min(30, 2 ** (failures - 1)))
        finally:
            if pubsub is not None:
                pubsub.close()
                client.close()

"""Host → tenant lookup, cached per process and cleared in every process at once.

Routing is on every request, so the Domain lookup is kept in a small in-process cache:
a hit costs no database round trip; a miss costs one (`Domain` joined to `Tenant`).

When a Domain or Tenant is saved or deleted (signals in `tenants.apps`), the process that
made the change clears its cache at once, and again when the change commits; at commit it
also publishes on a Redis channel. Every web process keeps one listener thread subscribed
to that channel, which clears its own cache on each message. So a suspension, a new domain
or a deleted tenant reaches every process within a Redis round trip, not a TTL.

Entries still expire after `TENANT_ROUTING_CACHE_SECONDS` (default 5 s). That is the
bound while the listener is cut off from Redis (it reconnects by itself, and clears the
cache when it is back, in case it missed a message) or when the change was made without
the signals (a raw `UPDATE`). A message carries nothing: it can only cause a cache miss,
never put a tenant in the cache. A lookup that overlapped a clear is not kept, so a read
of the old row that finishes after the message cannot bring the old tenant back.

Unknown hosts are cached too, so a flood of bogus Host headers cannot become a flood of
queries.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from django.db import connection, transaction

if TYPE_CHECKING:
    from tenants.models import Tenant

log = logging.getLogger(__name__)

_MAX_ENTRIES = 50_000
_lock = threading.Lock()
_cache: dict[str, tuple[float, Tenant | None]] = {}
_generation = 0  # bumped by every clear: a lookup that overlapped one is not kept
_listener: threading.Thread | None = None
subscribed = threading.Event()  # set while the listener is subscribed (tests wait on it)


def hostname_from_header(host: str) -> str:
    """Lower-case host without port or a leading `www.`; '' when the header is unusable."""
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal
        host = host.split("]")[0] + "]"
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if host.startswith("www."):
        host = host[4:]
    if not host or len(host) > 253:
        return ""
    return host


def _lookup(hostname: str) -> Tenant | None:
    from tenants.models import Domain

    connection.set_schema_to_public()
    domain = Domain.objects.select_related("tenant", "tenant__plan").filter(domain=hostname).first()
    return domain.tenant if domain else None


def tenant_for_hostname(hostname: str) -> Tenant | None:
    """The tenant serving `hostname`, or None. A fresh copy each call (callers may mutate it)."""
    if _listener is None and settings.TENANT_ROUTING_PUBSUB:
        listener_start()
    now = time.monotonic()
    entry = _cache.get(hostname)
    if entry is None or entry[0] < now:
        generation = _generation
        tenant = _lookup(hostname)
        with _lock:
            if generation == _generation:  # no clear while we read: the row is current
                if len(_cache) >= _MAX_ENTRIES:
                    _cache.clear()
                _cache[hostname] = (now + settings.TENANT_ROUTING_CACHE_SECONDS, tenant)
    else:
        tenant = entry[1]
    return copy.copy(tenant) if tenant is not None else None


def clear() -> None:
    """Forget every entry in this process."""
    global _generation
    with _lock:
        _generation += 1
        _cache.clear()


def invalidate(**_: object) -> None:
    """A Domain or Tenant changed: clear here now, and here and everywhere once it commits."""
    clear()
    transaction.on_commit(announce)


def channel() -> str:
    """The Redis channel of this installation: its key prefix and a digest of its Redis URL
    (so each Redis database has its own, and a password in the URL never shows in
    `PUBSUB CHANNELS` or `CLIENT LIST`)."""
    server = hashlib.sha256(settings.REDIS_URL.encode()).hexdigest()[:16]
    return f"{settings.REDIS_KEY_PREFIX}:tenant-routing:{server}"


def announce() -> None:
    """Clear this process's cache and tell every other process to clear theirs.

    Its own short-lived connection with short timeouts, not the cache's pool (which has
    none): announcements are rare, and a Redis outage must not hold up a commit for long."""
    clear()
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.publish(channel(), b"1")
        finally:
            client.close()
    except redis.RedisError:
        log.warning(
            "could not announce a routing change; other processes see it within %ss",
            settings.TENANT_ROUTING_CACHE_SECONDS,
            exc_info=True,
        )


def listener_start() -> None:
    """Start this process's listener thread (once; again in a forked child)."""
    global _listener
    with _lock:
        if _listener is None:
            _listener = threading.Thread(target=_listen, name="tenant-routing-listener", daemon=True)
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
        settings.REDIS_URL, health_check_interval=30, client_name=f"tenant-routing-{os.getpid()}"
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
            clear()  # whatever was announced while we were not listening
            subscribed.set()
            failures = 0
            while True:
                message = pubsub.get_message(timeout=30)  # pings Redis every 30 s meanwhile
                # A "subscribe" here is redis-py resubscribing after it reconnected by itself:
                # something may have been announced in between, so it clears too.
                if message is not None and message["type"] in ("message", "subscribe"):
                    clear()
        except Exception:  # Redis is away or dropped us: entries still expire; try again
            subscribed.clear()
            failures += 1
            level = logging.WARNING if failures == 1 else logging.DEBUG  # once per outage
            log.log(level, "tenant routing listener lost Redis; reconnecting", exc_info=True)
            time.sleep(min(30, 2 ** (failures - 1)))
        finally:
            if pubsub is not None:
                pubsub.close()
                client.close()

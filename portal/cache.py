"""Django's Redis cache backend, with connection pools and redis-py clients shared by the process.

Django builds a new cache object per thread, and under ASGI per request (`caches` is
context-local), and each object starts with no connection pool. Under daphne that meant a
new TCP connection to Redis for every request, with redis-py's handshake (`HELLO`,
`CLIENT SETINFO`, and reading its own version from the package metadata): a reveal through
daphne cost 9.7 ms of server CPU before this, 7.4 ms after (benchmarks/vault.py). Here
every cache object configured alike borrows from one pool per server, kept for the life of
the process (redis-py pools are thread-safe, and reset themselves in a forked child).

Django's `RedisCacheClient.get_client()` also builds a new `redis.Redis` for every cache
call; with redis-py 8 that constructor fills a ~170-entry response-callback table each time
(~60 µs of CPU). redis-py clients hold no connection of their own (they borrow from the pool
per command), so one per pool is enough. Keys, serialisation and timeouts are Django's,
unchanged.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

# (servers, pool class, pool options) -> {server index: pool}, and -> {id(pool): client}
_POOLS: dict[tuple[Any, ...], dict[int, Any]] = {}
_CLIENTS: dict[tuple[Any, ...], dict[int, Any]] = {}
_LOCK = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = tuple(sorted((name, repr(value)) for name, value in self._pool_options.items()))
        key = (tuple(self._servers), self._pool_class, options)
        with _LOCK:
            self._pools = _POOLS.setdefault(key, {})
            self._clients: dict[int, Any] = _CLIENTS.setdefault(key, {})

    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)
        pool = self._pools.get(index)
        if pool is None:
            with _LOCK:  # two first calls at once must not make two pools
                pool = super()._get_connection_pool(write)
        return pool

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient

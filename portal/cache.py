"""Django's Redis cache backend, reusing one redis-py client per connection pool.

Django's `RedisCacheClient.get_client()` builds a new `redis.Redis` for every cache call;
with redis-py 8 that constructor fills a ~170-entry response-callback table each time
(~60 µs of CPU). A request that throttles, reads the policy cache and the routing cache pays
it several times. redis-py clients are thread-safe and hold no connection of their own (they
borrow from the pool per command), so one per pool is enough. Keys, serialisation, pools
and timeouts are Django's, unchanged.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

"""The Redis cache backend (portal.cache): Django's behaviour, one redis-py client per pool."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django_tenants.utils import schema_context

from portal.cache import RedisCache


def test_the_default_cache_is_ours_and_behaves_like_djangos(unique):
    assert isinstance(caches["default"], RedisCache)
    key = f"test-cache-{unique}"
    assert cache.get(key) is None
    assert cache.add(key, 1, 30) is True
    assert cache.add(key, 5, 30) is False
    assert cache.incr(key) == 2
    cache.set(key, {"a": [1, 2]}, 30)
    assert cache.get(key) == {"a": [1, 2]}
    assert cache.get_many([key, f"{key}-none"]) == {key: {"a": [1, 2]}}
    cache.delete(key)
    assert cache.get(key, "gone") == "gone"
    with pytest.raises(ValueError, match="not found"):
        cache.incr(key)


def test_one_client_is_reused_for_every_call():
    clients = {id(cache._cache.get_client(None)) for _ in range(5)}
    clients.add(id(cache._cache.get_client(None, write=True)))
    assert len(clients) == 1


def test_keys_stay_per_tenant(alice, mallory, unique, db):
    """Tenant separation comes from the key function (django_tenants.cache.make_key), not the client."""
    key = f"test-cache-tenant-{unique}"
    with schema_context(alice.schema_name):
        cache.set(key, "acme", 30)
    with schema_context(mallory.schema_name):
        assert cache.get(key) is None
        cache.set(key, "globex", 30)
    with schema_context(alice.schema_name):
        assert cache.get(key) == "acme"
        cache.delete(key)
    with schema_context(mallory.schema_name):
        cache.delete(key)
    assert connection.schema_name == "public"


def test_concurrent_threads_each_read_their_own_writes(unique):
    """Django gives each thread its own cache object; the shared pool serves them all."""
    results: dict[str, object] = {}

    def work(name: str) -> None:
        local = caches["default"]
        local.set(f"test-cache-{unique}-{name}", name, 30)
        results[name] = (id(local), local.get(f"test-cache-{unique}-{name}"))

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {name: value for name, (_, value) in results.items()} == {f"t{i}": f"t{i}" for i in range(4)}
    cache.delete_many([f"test-cache-{unique}-t{i}" for i in range(4)])


def test_cache_objects_of_different_requests_share_one_pool(unique):
    """Under ASGI each request gets its own cache object (`caches` is context-local). They must
    borrow from one connection pool, not open a connection to Redis per request."""
    import asyncio
    import contextvars

    from asgiref.sync import sync_to_async

    def one_request(n: int) -> tuple[int, int, object]:
        local = caches["default"]
        local.set(f"test-cache-{unique}-{n}", n, 30)
        return id(local), id(local._cache._get_connection_pool(False)), local.get(f"test-cache-{unique}-{n}")

    async def requests() -> list[tuple[int, int, object]]:
        # Each task starts from a fresh context, as daphne starts each request.
        fresh = contextvars.Context
        tasks = [asyncio.create_task(sync_to_async(one_request)(n), context=fresh()) for n in range(6)]
        return await asyncio.gather(*tasks)

    pool = cache._cache._get_connection_pool(False)
    created = pool._created_connections
    results = asyncio.run(requests())
    assert len({cache_id for cache_id, _, _ in results}) == 6  # six cache objects, as under daphne
    assert {pool_id for _, pool_id, _ in results} == {id(pool)}
    assert [value for _, _, value in results] == list(range(6))
    # Sequential requests in one thread reuse one connection: at most one new one was needed.
    assert pool._created_connections - created <= 1
    cache.delete_many([f"test-cache-{unique}-{n}" for n in range(6)])

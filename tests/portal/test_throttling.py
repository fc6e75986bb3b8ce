"""API rate limits (portal.throttling): DRF's scopes and rates, counted in O(1)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from django_tenants.utils import schema_context
from rest_framework.test import APIRequestFactory

from portal import throttling


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make(unique):  # type: ignore[no-untyped-def]
    """A 3-per-minute throttle for identity `who`, on a controlled clock (real Redis)."""
    keys: list[str] = []

    def build(clock: Clock, who: str = "a") -> throttling.UserRateThrottle:
        class Throttle(throttling.UserRateThrottle):
            rate = "3/min"
            timer = clock

            def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
                keys.append(f"throttle_test_{unique}_{who}")
                return keys[-1]

        return Throttle()

    yield build
    for key in set(keys):
        cache.delete_many([f"{key}:{window}" for window in range(0, 10)])


def _allow(throttle) -> bool:  # type: ignore[no-untyped-def]
    return throttle.allow_request(APIRequestFactory().get("/"), None)


def test_the_rate_is_enforced_and_refusals_do_not_count(make):
    clock = Clock(60.0 * 2 + 1)  # 1 s into window 2; window 1 empty
    assert [_allow(make(clock)) for _ in range(3)] == [True, True, True]
    refused = make(clock)
    assert _allow(refused) is False
    # Next window (59 s away), once this window's 3 have faded to 2: 20 s into it.
    assert refused.wait() == pytest.approx(59 + 20)
    assert _allow(make(clock)) is False
    assert cache.get(f"{refused.get_cache_key(None, None)}:2") == 3  # the refusals were taken back


def test_the_previous_window_fades_out(make):
    clock = Clock(60.0 * 2 + 59)  # the last second of window 2
    assert [_allow(make(clock)) for _ in range(3)] == [True, True, True]
    clock.now = 60.0 * 3 + 1  # 2 s later, in window 3: 3 × 59/60 of the old window still counts
    assert _allow(make(clock)) is False
    clock.now = 60.0 * 3 + 40  # 3 × 20/60 = 1 still counts: two more fit
    assert [_allow(make(clock)) for _ in range(3)] == [True, True, False]


def test_each_identity_has_its_own_bucket(make):
    clock = Clock(60.0 * 2 + 1)
    assert [_allow(make(clock, "a")) for _ in range(4)] == [True, True, True, False]
    assert _allow(make(clock, "b")) is True


def test_each_tenant_has_its_own_bucket(make, alice, mallory, db):
    clock = Clock(60.0 * 2 + 1)
    with schema_context(alice.schema_name):
        assert [_allow(make(clock)) for _ in range(4)] == [True, True, True, False]
    with schema_context(mallory.schema_name):
        assert _allow(make(clock)) is True


def test_the_api_answers_429_with_retry_after(client_for, alice, monkeypatch):
    import time

    client = client_for(alice)
    user_id = alice.user().pk
    window = int(time.time() // 60)
    with schema_context(alice.schema_name):  # earlier tests' requests by Alice this minute
        cache.delete_many([f"throttle_user_{user_id}:{w}" for w in (window - 1, window, window + 1)])
    monkeypatch.setattr(throttling.UserRateThrottle, "rate", "2/min", raising=False)
    # A minute turning over in between changes nothing: the previous window still counts.
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 429]
    response = client.get("/api/v1/me/")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) >= 1


def test_the_settings_use_these_classes():
    from rest_framework.settings import api_settings

    assert [throttling.AnonRateThrottle, throttling.UserRateThrottle] == api_settings.DEFAULT_THROTTLE_CLASSES


@override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
def test_a_non_redis_cache_works_too(unique):
    from django.core.cache import caches

    class Throttle(throttling.UserRateThrottle):
        rate = "2/min"
        timer = Clock(60.0 * 2 + 1)
        cache = caches["default"]

        def get_cache_key(self, request, view):  # type: ignore[no-untyped-def]
            return f"throttle_local_{unique}"

    assert [_allow(Throttle()) for _ in range(3)] == [True, True, False]


def test_on_redis_a_request_costs_one_round_trip(make, monkeypatch):
    """The pipelined path runs on the real backend (DRF's `cache` attribute is Django's proxy
    object, which is never an instance of the Redis backend; the path used to be skipped)."""
    from redis.connection import AbstractConnection  # TCP and unix-socket connections alike

    sent: list[object] = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        sent.append(command)
        return original(self, command, check_health)

    throttle = make(Clock(60.0 * 2 + 1))
    assert _allow(throttle)  # warm: the pool's connection exists
    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    assert [_allow(throttle) for _ in range(2)] == [True, True]
    assert len(sent) == 2
    assert throttle.current == 3

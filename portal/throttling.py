"""API rate limits in O(1): a sliding-window counter instead of DRF's list of timestamps.

DRF's `SimpleRateThrottle` keeps every request time of the last window in one cache entry,
reads it, trims it and writes it back on each request: two cache round trips and a pickled
list of up to `rate` floats (1,200 at the default user rate). Here each (scope, identity,
window) is one integer counter:

- one round trip per request: INCR this window, set its expiry, GET the previous window;
- the estimate is `previous × (share of the previous window still inside the last
  `duration` seconds) + current` (the sliding-window-counter approximation), so a burst at a
  window boundary cannot double the rate the way a plain fixed window would;
- a refused request is taken back out (DECR), as DRF records only allowed requests.

Same scopes, rates (`DEFAULT_THROTTLE_RATES`), cache keys per tenant (django-tenants'
key function) and 429 + `Retry-After` as DRF's own classes.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from rest_framework import throttling


class SlidingWindowCounterMixin:
    """For subclasses of DRF's SimpleRateThrottle: replaces the history list with counters."""

    timer: Any
    rate: str | None
    num_requests: int
    duration: int

    @property
    def cache(self) -> Any:
        """This thread's backend itself. DRF's class attribute is Django's `cache` proxy, which
        is never an instance of the Redis backend, so the pipelined path below never ran."""
        return caches["default"]

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        base = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if base is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.elapsed = self.now - window * self.duration
        current_key, previous_key = f"{base}:{window}", f"{base}:{window - 1}"
        self.current, self.previous = self._count(current_key, previous_key)
        weight = 1.0 - self.elapsed / self.duration
        if self.previous * weight + self.current <= self.num_requests:
            return True
        self._take_back(current_key)
        self.current -= 1
        return False

    def wait(self) -> float | None:
        """Seconds until one more request would be allowed (for `Retry-After`)."""
        limit, duration = self.num_requests, self.duration
        if self.current + 1 <= limit:  # inside this window, once the previous one has faded enough
            if self.previous <= 0:
                return 0.0
            fade_until = duration * (1.0 - (limit - self.current - 1) / self.previous)
            return max(0.0, fade_until - self.elapsed)
        # Only in the next window, once this window's count has faded enough.
        fade_until = duration * max(0.0, 1.0 - (limit - 1) / self.current) if self.current else 0.0
        return (duration - self.elapsed) + fade_until

    # --- cache access: one pipelined round trip on Redis -----------------------------------
    def _count(self, current_key: str, previous_key: str) -> tuple[int, int]:
        ttl = 2 * self.duration + 1  # the previous window is read during the whole next one
        if isinstance(self.cache, DjangoRedisCache):
            current = self.cache.make_and_validate_key(current_key)
            previous = self.cache.make_and_validate_key(previous_key)
            pipe = self.cache._cache.get_client(current, write=True).pipeline(transaction=False)
            pipe.incr(current)
            pipe.expire(current, ttl)  # the key names its window: refreshing the expiry is harmless
            pipe.get(previous)
            count, _, before = pipe.execute()
            return int(count), int(before or 0)
        self.cache.add(current_key, 0, ttl)
        try:
            count = self.cache.incr(current_key)
        except ValueError:  # expired between add and incr
            self.cache.set(current_key, 1, ttl)
            count = 1
        return int(count), int(self.cache.get(previous_key) or 0)

    def _take_back(self, current_key: str) -> None:
        with contextlib.suppress(ValueError):  # the window's key already expired: nothing to undo
            self.cache.decr(current_key)


class UserRateThrottle(SlidingWindowCounterMixin, throttling.UserRateThrottle):
    pass


class AnonRateThrottle(SlidingWindowCounterMixin, throttling.AnonRateThrottle):
    pass

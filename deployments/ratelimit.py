"""Rate limits for `hello` on /ws/agent/: per client IP and per claimed agent id, in Redis.

Fixed windows (`DEPLOY_HELLO_WINDOW_SECONDS`): one pipelined INCR+EXPIRE per key. A caller
over either limit is told when to come back; the consumer closes with 4429. Redis being
down lets hellos through: the signed challenge still guards the door, so the limiter fails
open rather than locking every agent out.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

from deployments import conf

log = logging.getLogger(__name__)

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def _client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return client


def scope_client_ip(scope: dict[str, Any]) -> str:
    """The peer's IP, trusting X-Forwarded-For only behind PROXY_COUNT proxies (as for HTTP)."""
    proxies = getattr(settings, "AXES_IPWARE_PROXY_COUNT", 0)
    if proxies:
        for name, value in scope.get("headers") or []:
            if name == b"x-forwarded-for":
                hops = [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
                if len(hops) >= proxies:
                    return hops[-proxies]
    client = scope.get("client") or ("unknown", 0)
    return str(client[0])


async def hello_retry_after(*, ip: str, schema: str, agent_id: int) -> int:
    """0 if this hello may go ahead, else the seconds until the window resets."""
    window = int(conf.get("DEPLOY_HELLO_WINDOW_SECONDS"))
    now = time.time()
    slot = int(now // window)
    prefix = f"{settings.REDIS_KEY_PREFIX}:agent-hello:{slot}"
    keys = (f"{prefix}:ip:{ip}", f"{prefix}:agent:{schema}:{agent_id}")
    try:
        pipe = _client().pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, window * 2)
        by_ip, _, by_agent, _ = await pipe.execute()
    except (redis.RedisError, OSError):
        log.warning("agent hello rate limit unavailable (Redis); letting the hello through")
        return 0
    if by_ip > conf.get("DEPLOY_HELLO_PER_IP") or by_agent > conf.get("DEPLOY_HELLO_PER_AGENT"):
        return max(1, int(window - now % window + 0.999))
    return 0

"""Host → tenant lookup, cached per process.

Routing is on every request, so the Domain lookup is kept in a small in-process cache:
a hit costs no database round trip; a miss costs one (`Domain` joined to `Tenant`).
Entries live `TENANT_ROUTING_CACHE_SECONDS` (default 5 s). Saving or deleting a Domain
or Tenant clears the cache at once in the process that made the change (signals below);
other processes see it when their entry expires, so a suspension takes effect everywhere
within that bound. Unknown hosts are cached too, so a flood of bogus Host headers cannot
become a flood of queries.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

if TYPE_CHECKING:
    from tenants.models import Tenant

_MAX_ENTRIES = 50_000
_lock = threading.Lock()
_cache: dict[str, tuple[float, Tenant | None]] = {}


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
    now = time.monotonic()
    entry = _cache.get(hostname)
    if entry is None or entry[0] < now:
        tenant = _lookup(hostname)
        with _lock:
            if len(_cache) >= _MAX_ENTRIES:
                _cache.clear()
            _cache[hostname] = (now + settings.TENANT_ROUTING_CACHE_SECONDS, tenant)
    else:
        tenant = entry[1]
    return copy.copy(tenant) if tenant is not None else None


def invalidate(**_: object) -> None:
    with _lock:
        _cache.clear()

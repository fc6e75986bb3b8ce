"""Host → tenant lookup, cached per process and cleared in every process at once.

Routing is on every request, so the Domain lookup is kept in a process-local cache
(`portal.invalidation.LocalCache`): a hit costs no database round trip; a miss costs one
(`Domain` joined to `Tenant`).

When a Domain or Tenant is saved or deleted (signals in `tenants.apps`), the process that
made the change clears its cache at once, and again when the change commits; at commit it
also announces the change on Redis, and every process clears its own cache. So a
suspension, a new domain or a deleted tenant reaches every process within a Redis round
trip. Entries still expire after `TENANT_ROUTING_CACHE_SECONDS` (default 5 s): the bound
while a process is cut off from Redis, or for a change made without the signals. See
`portal.invalidation` for the listener and for why a lookup that overlapped a clear is not
kept.

Unknown hosts are cached too, so a flood of bogus Host headers cannot become a flood of
queries.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

from portal.invalidation import LocalCache

if TYPE_CHECKING:
    from tenants.models import Tenant

cache = LocalCache("tenant-routing", seconds=lambda: settings.TENANT_ROUTING_CACHE_SECONDS)


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
    tenant = cache.get(hostname, lambda: _lookup(hostname))
    return copy.copy(tenant) if tenant is not None else None


def clear() -> None:
    """Forget every entry in this process."""
    cache.clear()


def invalidate(**_: object) -> None:
    """A Domain or Tenant changed (signal receiver): clear here now, and everywhere at commit."""
    cache.invalidate()

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from portal import editions, navigation


def portal(request: HttpRequest) -> dict[str, Any]:
    tenant = getattr(request, "tenant", None)
    return {
        "PORTAL_DOMAIN": settings.PORTAL_DOMAIN,
        "PORTAL_EDITION": settings.PORTAL_EDITION,
        "features": editions.features(),
        "tenant": tenant if tenant is not None and tenant.schema_name != "public" else None,
        # Callable: templates evaluate it only where the tenant nav is drawn.
        "nav_items": lambda: navigation.nav_items(request),
    }

"""Editions, gated in one place.

- `saas` (default): many tenants, public signup, Stripe billing.
- `community`: one tenant, no signup or billing, and a built-in local agent.
"""

from __future__ import annotations

from django.conf import settings

FEATURES = {
    "saas": {"signup", "billing", "central_login", "multi_tenant"},
    "community": {"local_agent"},
}


def features() -> frozenset[str]:
    enabled = set(FEATURES[settings.PORTAL_EDITION])
    if not settings.BILLING_ENABLED:
        enabled.discard("billing")
    return frozenset(enabled)


def enabled(feature: str) -> bool:
    return feature in features()

"""Admin autodiscovery hook for the portal app: the operator console's model admins."""

from __future__ import annotations

from portal import admin_tenants  # noqa: F401  (registers Tenant and Plan)

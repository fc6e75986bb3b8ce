"""Tenant reads."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from tenants.models import Tenant, TenantEmail


def serving_tenants() -> QuerySet[Tenant]:
    return (
        Tenant.objects.exclude(schema_name="public")
        .exclude(status=Tenant.Status.DELETED)
        .filter(provisioning=Tenant.Provisioning.READY)
        .order_by("id")
    )


def tenant_base_url(tenant: Tenant) -> str:
    host = tenant.get_primary_domain().domain
    port = "" if settings.PORTAL_SCHEME == "https" or settings.PRODUCTION else f":{settings.PORTAL_PORT}"
    return f"{settings.PORTAL_SCHEME}://{host}{port}"


def tenant_login_url(tenant: Tenant) -> str:
    return f"{tenant_base_url(tenant)}/accounts/login/"


def login_links_for_email(email: str) -> list[tuple[str, str, str]]:
    """(portal name, sign-in URL, password-reset URL) for each portal of an address."""
    rows = (
        TenantEmail.objects.filter(email=email.strip().lower())
        .exclude(tenant__status=Tenant.Status.DELETED)
        .select_related("tenant")
        .order_by("tenant__name")
    )
    return [
        (tenant.name, tenant_login_url(tenant), f"{tenant_base_url(tenant)}/accounts/password/reset/")
        for tenant in (row.tenant for row in rows)
    ]

"""The tenant shell's navigation: one list, filtered by what exists and what the user may see.

Each app mounts its pages independently. An entry appears once one of its candidate paths
resolves in the tenant URLconf, and only to members whose role holds its permission, so a
developer never sees a Billing link that would answer 403, and no link is ever a dead end.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.http import HttpRequest
from django.urls import Resolver404, resolve

from tenants.members.permissions import has_perm


@dataclass(frozen=True)
class NavItem:
    label: str
    paths: tuple[str, ...]
    permission: str | None = None


TENANT_NAV: tuple[NavItem, ...] = (
    NavItem("Dashboard", ("/",)),
    NavItem("Members", ("/members/",), "members.read"),
    NavItem("Security", ("/accounts/security/", "/members/security/", "/accounts/mfa/", "/accounts/2fa/")),
    NavItem("Vault", ("/vault/",), "vault.read"),
    NavItem("Deployments", ("/deployments/",), "deployments.read"),
    NavItem("Compliance", ("/compliance/", "/compliance/audit/"), "policies.read"),
    NavItem("Billing", ("/billing/",), "billing.read"),
    NavItem("API tokens", ("/members/tokens/", "/accounts/tokens/", "/tokens/")),
)


@lru_cache(maxsize=256)
def _first_existing(urlconf: str, paths: tuple[str, ...]) -> str | None:
    for path in paths:
        try:
            resolve(path, urlconf)
        except Resolver404:
            continue
        return path
    return None


def nav_items(request: HttpRequest) -> list[dict[str, Any]]:
    """[{label, href, current}] for the signed-in member of the current tenant."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    urlconf = getattr(request, "urlconf", None) or "portal.urls_tenant"
    items: list[dict[str, Any]] = []
    for item in TENANT_NAV:
        href = _first_existing(urlconf, item.paths)
        if href is None or (item.permission and not has_perm(user, item.permission)):
            continue
        items.append({"label": item.label, "href": href, "current": False})
    # The current section is the longest matching link: /members/security/ is Security,
    # not Members as well.
    matches = [
        i
        for i in items
        if request.path == i["href"] or (i["href"] != "/" and request.path.startswith(i["href"]))
    ]
    if matches:
        max(matches, key=lambda i: len(str(i["href"])))["current"] = True
    return items

"""`{% governance_nav %}`: the governance sub-navigation, only with links the member may open."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from tenants.members.permissions import has_perm

register = template.Library()

LINKS = (
    ("Overview", "compliance:governance:dashboard", "reports.read"),
    ("Reports", "compliance:governance:report-index", "reports.read"),
    ("Policies", "compliance:governance:policy-list", "policies.read"),
    ("Violations", "compliance:governance:violation-list", "policies.read"),
    ("Data-subject requests", "compliance:governance:dsr-list", "privacy.read"),
    ("Consent", "compliance:governance:consent-list", "privacy.read"),
    ("DPIA register", "compliance:governance:dpia-list", "privacy.read"),
    ("AI systems", "compliance:governance:ai-list", "privacy.read"),
    ("AI review queue", "compliance:governance:ai-reviews", "privacy.read"),
    ("Audit log", "compliance:audit-events", "audit.read"),
)


@register.inclusion_tag("compliance/governance/_subnav.html", takes_context=True)
def governance_nav(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    items = []
    for label, name, permission in LINKS:
        if not has_perm(request.user, permission):
            continue
        try:
            href = reverse(name)
        except Exception:  # noqa: S112 - a page of another module that is not mounted (yet)
            continue
        items.append({"label": label, "href": href, "current": request.path.startswith(href)})
    return {"items": items}

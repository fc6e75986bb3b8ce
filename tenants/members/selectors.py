"""Identity reads for pages and the API."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from portal.accounts.models import User
from tenants.members.models import ApiToken, Invitation, ServiceAccount


def members_for_page() -> QuerySet[User]:
    return User.objects.filter(is_service_account=False).order_by("email")


def invitations_open() -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    ).select_related("invited_by")


def service_accounts_with_tokens() -> QuerySet[ServiceAccount]:
    live_tokens = ApiToken.objects.filter(revoked_at=None).order_by("-created_at")
    return ServiceAccount.objects.select_related("user").prefetch_related(
        Prefetch("user__api_tokens", queryset=live_tokens, to_attr="live_tokens")
    )

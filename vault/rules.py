"""Object rules of the vault, registered with the central permission layer at app start."""

from __future__ import annotations

from typing import Any

from tenants.members.permissions import DEVELOPER, object_rule, role_of


def _is_secret(obj: Any) -> bool:
    from vault.models import Secret

    return isinstance(obj, Secret)


def service_account_names(actor: Any) -> set[str]:
    """What `allowed_service_accounts` may list for this account: its name or its email."""
    profile = getattr(actor, "service_account", None)
    names: set[str] = {str(getattr(actor, "email", None) or "")}
    if profile is not None and getattr(profile, "name", None):
        names.add(str(profile.name))
    return names - {""}


@object_rule("vault.write")
@object_rule("vault.reveal")
def developers_stay_out_of_production(actor: Any, obj: Any) -> bool:
    return not (_is_secret(obj) and obj.is_production and role_of(actor) == DEVELOPER)


@object_rule("vault.reveal")
def listed_on_the_secret(actor: Any, obj: Any) -> bool:
    """Members: `allowed_roles` (empty = any role that may reveal). Service accounts: they must
    be named in `allowed_service_accounts` (empty = none): automation gets nothing by default."""
    if not _is_secret(obj):
        return True
    if getattr(actor, "is_service_account", False):
        return bool(service_account_names(actor) & set(obj.allowed_service_accounts or []))
    return not obj.allowed_roles or role_of(actor) in obj.allowed_roles


def reveal_refusal(actor: Any, secret: Any) -> str | None:
    """Why `actor` may not reveal `secret`, in words (None when the object rules allow it)."""
    if secret.is_production and role_of(actor) == DEVELOPER:
        return "Developers may not reveal production secrets."
    if getattr(actor, "is_service_account", False):
        if not listed_on_the_secret(actor, secret):
            return "This service account is not listed in the secret's allowed_service_accounts."
    elif secret.allowed_roles and role_of(actor) not in secret.allowed_roles:
        return f"Only these roles may reveal this secret: {', '.join(secret.allowed_roles)}."
    return None

"""Member writes. Each keeps the public email → tenant index in step with the schema."""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from compliance import audit
from portal.accounts.models import Role, User
from tenants.models import TenantEmail


def email_index_add(*, email: str) -> None:
    tenant = connection.tenant
    TenantEmail.objects.get_or_create(email=email.lower(), tenant_id=tenant.pk)


def email_index_remove(*, email: str) -> None:
    TenantEmail.objects.filter(email=email.lower(), tenant_id=connection.tenant.pk).delete()


@transaction.atomic
def member_create(
    *,
    email: str,
    role: str,
    name: str = "",
    password: str | None = None,
    password_hash: str | None = None,
    actor: Any = None,
) -> User:
    """Add a member to the current tenant's schema."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    user = User.objects.create_user(email=email, password=password, name=name, role=role)
    if password_hash:
        user.password = password_hash
        user.save(update_fields=["password"])
    email_index_add(email=user.email)
    audit.record(action="member.create", actor=actor, target=user, payload={"role": role})
    return user

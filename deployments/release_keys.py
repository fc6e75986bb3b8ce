"""Release-key rotation and the key set agents verify against.

Rotation makes a new Ed25519 key (private half in the vault), has the *old* key sign a
rotation statement naming the new one (`protocol.release_key_rotation_payload`), and retires
the old key: its vault secret is soft-deleted so it signs nothing any more, while its public
half stays in the key set. Agents learn the new key from that set (on every login, after a
rotation, and inside each deploy command) and trust it only if a key they already trust
endorsed it. Releases carry the id of the key that signed them; a retired key's signature
is accepted for rollbacks only.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from compliance import audit
from deployments import signing
from deployments.agent.protocol import release_key_rotation_payload
from deployments.models import Agent, ReleaseKey
from tenants.members.permissions import authorize


def release_key_set() -> list[dict[str, Any]]:
    """Every key of the tenant, oldest first, with the endorsement chaining it to its predecessor."""
    keys = list(ReleaseKey.objects.select_related("previous").order_by("id"))
    return [
        {
            "key_id": key.key_id,
            "public_key": key.public_key,
            "previous_key_id": key.previous.key_id if key.previous else "",
            "endorsement": key.endorsement,
            "active": key.is_active,
            "created_at": key.created_at.isoformat(),
            "retired_at": key.retired_at.isoformat() if key.retired_at else None,
        }
        for key in keys
    ]


def _active_locked() -> ReleaseKey | None:
    key = ReleaseKey.objects.select_for_update().filter(is_active=True).order_by("-id").first()
    if key is None:  # a concurrent rotation retired the row we waited for: read its successor
        key = ReleaseKey.objects.select_for_update().filter(is_active=True).order_by("-id").first()
    return key


def _retire_private_half(key: ReleaseKey, actor: Any) -> None:
    if not key.private_key_ref.startswith("vault:"):
        return  # a pre-vault `sealed:` key: nothing to delete, and it is never used to sign again
    from vault.models import Secret
    from vault.services import secret_delete

    secret = Secret.objects.filter(name=key.private_key_ref[len("vault:") :], deleted_at__isnull=True).first()
    if secret is not None:
        secret_delete(secret=secret, actor=actor)


@transaction.atomic
def release_key_rotate(*, actor: Any, reason: str = "") -> ReleaseKey:
    """Replace the signing key; the old one stays in the key set as verification-only."""
    authorize(actor, "releases.rotate_key")
    old = _active_locked()
    if old is None:
        raise ValidationError(
            "This organisation has no release key yet; it is made with the first environment."
        )
    old_private = signing.release_private_key(old)
    _, new = signing.release_key_new(actor=actor)
    new.previous = old
    statement = release_key_rotation_payload(
        tenant=connection.schema_name,
        previous_key_id=old.key_id,
        key_id=new.key_id,
        public_key=new.public_key,
    )
    new.endorsement = signing.b64(old_private.sign(statement))
    old.is_active, old.retired_at = False, timezone.now()
    old.save(update_fields=["is_active", "retired_at"])
    new.save()
    _retire_private_half(old, actor)
    audit.record(
        action="deployments.release_key.rotated",
        actor=actor,
        target=new,
        payload={"key_id": new.key_id, "previous_key_id": old.key_id, "reason": reason[:500]},
    )
    transaction.on_commit(release_keys_broadcast)
    return new


def release_keys_broadcast() -> None:
    """Tell every connected agent of the tenant about the current key set."""
    from deployments.services import send_to_agent

    message = {"type": "release_keys", "release_keys": release_key_set()}
    for agent_id in Agent.objects.filter(revoked_at__isnull=True).values_list("pk", flat=True):
        send_to_agent(agent_id, message)

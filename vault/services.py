"""Vault writes and reveals. Each is atomic and audits in the same transaction.

Plaintext never reaches the database, a log line or an audit payload: only names, versions,
reasons and field names are recorded.
"""

from __future__ import annotations

import re
import secrets as pysecrets
import string
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from compliance import audit, policies
from portal.accounts.models import Role
from tenants.billing.limits import check_limit, is_system_secret
from tenants.members.permissions import authorize, has_perm
from vault import keyring, selectors
from vault.errors import AuditUnavailable, StaleVersion, VaultConflict, VaultIntegrityError
from vault.models import (
    ENV_RE,
    MAX_VALUE_BYTES,
    NAME_MAX,
    NAME_RE,
    ROTATION_INTERVALS,
    TAG_RE,
    RotationPolicy,
    Secret,
    SecretType,
    SecretVersion,
)

GENERATED_TYPES = (SecretType.PASSWORD, SecretType.API_KEY)
METADATA_FIELDS = (
    "description",
    "environment",
    "secret_type",
    "tags",
    "rotation_policy",
    "auto_rotate",
    "allowed_roles",
    "allowed_service_accounts",
    "owner",
)
REFERENCE_RE = re.compile(r"\$\{vault:([^}\s]{1,200})\}")


# --- validation -------------------------------------------------------------------------
def validate_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > NAME_MAX or not NAME_RE.match(name):
        raise ValidationError(
            {
                "name": [
                    "Use a path of lower-case segments separated by '/', e.g. prod/db/password "
                    f"(letters, digits, '.', '_', '-'; at most {NAME_MAX} characters)."
                ]
            }
        )
    return name


def _value_bytes(value: Any) -> bytes:
    if not isinstance(value, str) or value == "":
        raise ValidationError({"value": ["The value may not be empty."]})
    data = value.encode()
    if len(data) > MAX_VALUE_BYTES:
        raise ValidationError({"value": [f"The value is larger than {MAX_VALUE_BYTES // 1024} KiB."]})
    return data


def _clean_metadata(fields: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if "environment" in fields and not ENV_RE.match(str(fields["environment"] or "")):
        errors["environment"] = ["Use a short lower-case slug such as production or staging."]
    if "secret_type" in fields and fields["secret_type"] not in SecretType.values:
        errors["secret_type"] = [f"Choose one of {', '.join(SecretType.values)}."]
    if "rotation_policy" in fields and fields["rotation_policy"] not in RotationPolicy.values:
        errors["rotation_policy"] = [f"Choose one of {', '.join(RotationPolicy.values)}."]
    if "tags" in fields:
        tags = list(fields["tags"] or [])
        if len(tags) > 20 or not all(isinstance(t, str) and TAG_RE.match(t) for t in tags):
            errors["tags"] = ["Up to 20 lower-case tags (letters, digits, '.', '_', ':', '-')."]
        fields["tags"] = sorted(set(tags))
    if "allowed_roles" in fields:
        roles = list(fields["allowed_roles"] or [])
        if not all(role in Role.values for role in roles):
            errors["allowed_roles"] = [f"Roles are {', '.join(Role.values)}."]
        fields["allowed_roles"] = sorted(set(roles))
    if "allowed_service_accounts" in fields:
        accounts = list(fields["allowed_service_accounts"] or [])
        if len(accounts) > 50 or not all(isinstance(a, str) and 0 < len(a) <= 100 for a in accounts):
            errors["allowed_service_accounts"] = ["Up to 50 service account names."]
        fields["allowed_service_accounts"] = sorted(set(accounts))
    if "description" in fields and len(fields["description"] or "") > 2000:
        errors["description"] = ["At most 2000 characters."]
    if errors:
        raise ValidationError(errors)
    return fields


def generate_value(*, kind: str, length: int = 32) -> str:
    if not 16 <= int(length) <= 128:
        raise ValidationError({"generate": ["Generated values are 16 to 128 characters long."]})
    if kind == SecretType.API_KEY:
        return pysecrets.token_urlsafe(length)[:length]
    alphabet = string.ascii_letters + string.digits + "-_.!@#%^*+="
    return "".join(pysecrets.choice(alphabet) for _ in range(int(length)))


def _policy_context(actor: Any, secret: Secret, **extra: Any) -> dict[str, Any]:
    """What policies may test (compliance.governance templates read these keys). Never a value."""
    interval = ROTATION_INTERVALS.get(RotationPolicy(secret.rotation_policy))
    return {
        "actor": actor,
        "secret": secret,
        "environment": secret.environment,
        "is_production": secret.is_production,
        "rotation_days": interval.days if interval else 0,
        **extra,
    }


def _member_or_none(actor: Any) -> Any:
    from portal.accounts.models import User

    return actor if isinstance(actor, User) else None


# --- versions ---------------------------------------------------------------------------
def _add_version(*, secret: Secret, plaintext: bytes, actor: Any) -> SecretVersion:
    number = secret.current_version + 1
    data_key_id, blob = keyring.seal(plaintext, secret_id=secret.pk, version=number)
    version = SecretVersion.objects.create(
        secret=secret,
        version=number,
        data_key_id=data_key_id,
        ciphertext=blob,
        created_by=_member_or_none(actor),
    )
    secret.current_version = number
    secret.rotated_at = timezone.now()
    secret.overdue_reported_at = None
    secret.save(update_fields=["current_version", "rotated_at", "overdue_reported_at", "updated_at"])
    # Keep the newest VAULT_MAX_VERSIONS; older ciphertexts are deleted, not just hidden.
    keep_from = number - max(1, settings.VAULT_MAX_VERSIONS) + 1
    SecretVersion.objects.filter(secret=secret, version__lt=keep_from).delete()
    return version


def _locked(secret: Secret) -> Secret:
    return Secret.objects.select_for_update().get(pk=secret.pk)


def _check_not_deleted(secret: Secret) -> None:
    if secret.is_deleted:
        raise VaultConflict("The secret is deleted; restore it first.")


# --- writes -----------------------------------------------------------------------------


def _check_secrets_limit(secret: Secret) -> None:
    """The plan's secrets limit, for a secret about to count (created or restored). The portal's
    own keys (e.g. deployments' release-signing keys) never count."""
    if not is_system_secret(name=secret.name, environment=secret.environment):
        check_limit(connection.tenant, "secrets")


@transaction.atomic
def secret_create(
    *,
    actor: Any,
    name: str,
    value: str | None = None,
    generate_length: int | None = None,
    secret_type: str = SecretType.GENERIC,
    environment: str = "development",
    description: str = "",
    tags: Iterable[str] = (),
    rotation_policy: str = RotationPolicy.NONE,
    auto_rotate: bool = False,
    allowed_roles: Iterable[str] = (),
    allowed_service_accounts: Iterable[str] = (),
    owner: Any = None,
) -> Secret:
    validate_name(name)
    fields = _clean_metadata(
        {
            "secret_type": secret_type,
            "environment": environment,
            "description": description,
            "tags": list(tags),
            "rotation_policy": rotation_policy,
            "allowed_roles": list(allowed_roles),
            "allowed_service_accounts": list(allowed_service_accounts),
        }
    )
    generator = None
    if generate_length is not None:
        if value:
            raise ValidationError({"value": ["Give a value or ask for a generated one, not both."]})
        if secret_type not in GENERATED_TYPES:
            raise ValidationError({"generate": ["Only passwords and API keys can be generated."]})
        generator = {"kind": secret_type, "length": int(generate_length)}
        value = generate_value(kind=secret_type, length=int(generate_length))
    elif auto_rotate:
        raise ValidationError({"auto_rotate": ["Only generated secrets can rotate automatically."]})
    plaintext = _value_bytes(value)
    secret = Secret(
        name=name,
        owner=_member_or_none(owner if owner is not None else actor),
        generator=generator,
        auto_rotate=bool(auto_rotate and generator),
        rotated_at=timezone.now(),
        **fields,
    )
    authorize(actor, "vault.write", secret)
    policies.evaluate("vault.write", _policy_context(actor, secret)).raise_if_blocked()
    if Secret.objects.filter(name=name).exists():
        raise ValidationError({"name": ["A secret with this name already exists (it may be deleted)."]})
    _check_secrets_limit(secret)
    try:
        with transaction.atomic():
            secret.save()
    except IntegrityError as exc:  # a concurrent create won the name
        raise ValidationError({"name": ["A secret with this name already exists."]}) from exc
    _add_version(secret=secret, plaintext=plaintext, actor=actor)
    audit.record(
        action="vault.secret.create",
        actor=actor,
        target=secret,
        payload={
            "name": name,
            "type": secret.secret_type,
            "environment": secret.environment,
            "version": secret.current_version,
            "generated": generator is not None,
        },
    )
    return secret


@transaction.atomic
def secret_update(
    *, secret: Secret, actor: Any, expected_version: int, value: str | None = None, **changes: Any
) -> Secret:
    """Check-and-set: `expected_version` must still be the current version."""
    unknown = set(changes) - set(METADATA_FIELDS)
    if unknown:
        raise ValidationError({field: ["This field cannot be changed."] for field in sorted(unknown)})
    secret = _locked(secret)
    authorize(actor, "vault.write", secret)
    _check_not_deleted(secret)
    if int(expected_version) != secret.current_version:
        raise StaleVersion(
            f"You read version {expected_version} but the secret is at version {secret.current_version}."
        )
    changes = _clean_metadata(dict(changes))
    for field, new in changes.items():
        setattr(secret, field, new)
    if secret.auto_rotate and not secret.generator:
        raise ValidationError({"auto_rotate": ["Only generated secrets can rotate automatically."]})
    authorize(actor, "vault.write", secret)  # e.g. a developer may not move it into production
    policies.evaluate("vault.write", _policy_context(actor, secret)).raise_if_blocked()
    secret.save()
    if value is not None:
        _add_version(secret=secret, plaintext=_value_bytes(value), actor=actor)
    audit.record(
        action="vault.secret.update",
        actor=actor,
        target=secret,
        payload={
            "fields": sorted(changes),
            "value_changed": value is not None,
            "version": secret.current_version,
        },
    )
    return secret


@transaction.atomic
def secret_rotate(
    *,
    secret: Secret,
    actor: Any,
    reason: str = "",
    value: str | None = None,
    expected_version: int | None = None,
) -> Secret:
    """A new version: the given value, or a fresh one for generated secrets."""
    secret = _locked(secret)
    if actor is not None:
        authorize(actor, "vault.write", secret)
    _check_not_deleted(secret)
    if expected_version is not None and int(expected_version) != secret.current_version:
        raise StaleVersion(
            f"You read version {expected_version} but the secret is at version {secret.current_version}."
        )
    if value is None or value == "":
        if not secret.generator:
            raise ValidationError(
                {"value": ["Give the new value; only generated secrets rotate by themselves."]}
            )
        value = generate_value(kind=secret.generator["kind"], length=secret.generator["length"])
    _add_version(secret=secret, plaintext=_value_bytes(value), actor=actor)
    audit.record(
        action="vault.secret.rotate",
        actor=actor,
        target=secret,
        payload={
            "version": secret.current_version,
            "reason": reason[:500],
            "generated": bool(secret.generator),
        },
    )
    return secret


@transaction.atomic
def secret_delete(*, secret: Secret, actor: Any) -> Secret:
    secret = _locked(secret)
    authorize(actor, "vault.write", secret)
    _check_not_deleted(secret)
    secret.deleted_at = timezone.now()
    secret.save(update_fields=["deleted_at", "updated_at"])
    audit.record(action="vault.secret.delete", actor=actor, target=secret, payload={"name": secret.name})
    return secret


@transaction.atomic
def secret_restore(*, secret: Secret, actor: Any) -> Secret:
    secret = _locked(secret)
    authorize(actor, "vault.write", secret)
    if not secret.is_deleted:
        raise VaultConflict("The secret is not deleted.")
    _check_secrets_limit(secret)  # deleted secrets do not count; a restored one does
    secret.deleted_at = None
    secret.save(update_fields=["deleted_at", "updated_at"])
    audit.record(action="vault.secret.restore", actor=actor, target=secret, payload={"name": secret.name})
    return secret


@transaction.atomic
def secret_destroy(*, secret: Secret, actor: Any) -> None:
    """Permanent: every version's ciphertext and the secret row go. Soft-delete first."""
    secret = _locked(secret)
    authorize(actor, "vault.destroy", secret)
    if not secret.is_deleted:
        raise VaultConflict("Delete the secret before destroying it permanently.")
    audit.record(
        action="vault.secret.destroy",
        actor=actor,
        target=secret,
        payload={"name": secret.name, "versions": secret.current_version},
    )
    SecretVersion.objects.filter(secret=secret).delete()
    secret.delete()


# --- reveal -----------------------------------------------------------------------------
def _open(secret: Secret, version: int | None) -> bytes:
    number = secret.current_version if version is None else int(version)
    row = selectors.prefetched_current_version(secret) if version is None else None
    if row is None:
        row = SecretVersion.objects.filter(secret=secret, version=number).first()
    if row is None:
        raise ValidationError({"version": [f"Version {number} does not exist (or was destroyed)."]})
    try:
        return keyring.open_sealed(
            row.ciphertext, data_key_id=row.data_key_id, secret_id=secret.pk, version=number
        )
    except keyring.DecryptionFailed as exc:
        raise VaultIntegrityError() from exc


def _audit_reveal(**kwargs: Any) -> None:
    # No savepoint of its own: a failed audit write aborts the caller's whole transaction,
    # and the value is never returned.
    try:
        audit.record(**kwargs)
    except Exception as exc:
        raise AuditUnavailable() from exc


def secret_reveal(*, secret: Secret, actor: Any, reason: str, version: int | None = None) -> str:
    """A member or service account reads the value; audited before it is returned.

    Step-up MFA (members) and the token's `vault` scope (service accounts) are checked by the
    caller: they live in the session and the request, not in the database.

    No transaction of its own: the audit INSERT is the only write, and one statement in
    autocommit is committed before it returns, so the event is durable before the value
    leaves and a failed write fails the reveal, with one round trip instead of three
    (BEGIN, INSERT, COMMIT). Inside a caller's transaction it joins that one, as before.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why you need to see this value."]})
    authorize(actor, "vault.reveal", secret)
    _check_not_deleted(secret)
    policies.evaluate("vault.reveal", _policy_context(actor, secret, reason=reason)).raise_if_blocked()
    plaintext = _open(secret, version)
    _audit_reveal(
        action="vault.secret.reveal",
        actor=actor,
        target=secret,
        payload={"version": version or secret.current_version, "reason": reason[:500]},
    )
    return plaintext.decode()


@transaction.atomic
def resolve_references(text: str, *, environment: str, actor: Any) -> str:
    """Replace every `${vault:<name>}` in `text` (a deployment being rendered).

    Each secret must exist, not be deleted, belong to `environment`, and be revealable by
    `actor` (a member, or None for the system acting for a deployment run). One audit event per
    secret; an unknown or forbidden reference fails the whole render, nothing partial.
    """
    names = sorted(set(REFERENCE_RE.findall(text)))
    if not names:
        return text
    found = {s.name: s for s in Secret.objects.filter(name__in=names, deleted_at__isnull=True)}
    errors = []
    for name in names:
        secret = found.get(name)
        if secret is None:
            errors.append(f"${{vault:{name}}}: no such secret")
        elif secret.environment != environment:
            errors.append(f"${{vault:{name}}}: belongs to {secret.environment}, not {environment}")
        elif actor is not None and not has_perm(actor, "vault.reveal", secret):
            errors.append(f"${{vault:{name}}}: not allowed for this actor")
    if errors:
        raise ValidationError({"references": errors})
    values = {}
    for name in names:
        secret = found[name]
        values[name] = _open(secret, None).decode()
        _audit_reveal(
            action="vault.secret.resolve",
            actor=actor,
            target=secret,
            payload={"version": secret.current_version, "environment": environment},
        )
    return REFERENCE_RE.sub(lambda m: values[m.group(1)], text)


# --- rotation sweep ---------------------------------------------------------------------
def rotation_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Daily: rotate generated secrets that may rotate themselves, report the rest once per due date."""
    now = now or timezone.now()
    rotated = reported = 0
    for secret in selectors.rotation_needed(now=now):
        if secret.auto_rotate and secret.generator:
            secret_rotate(secret=secret, actor=None, reason="automatic rotation (policy due)")
            rotated += 1
        elif secret.overdue_reported_at is None or secret.overdue_reported_at < (
            secret.rotation_due_at or now
        ):
            rotation_overdue_report(secret=secret, now=now)
            reported += 1
    return {"rotated": rotated, "reported": reported}


@transaction.atomic
def rotation_overdue_report(*, secret: Secret, now: datetime) -> None:
    """Compliance evidence (an audit event) and an email reminder to the owner."""
    secret = _locked(secret)
    due = secret.rotation_due_at
    secret.overdue_reported_at = now
    secret.save(update_fields=["overdue_reported_at"])
    audit.record(
        action="vault.rotation.overdue",
        actor=None,
        target=secret,
        payload={
            "name": secret.name,
            "policy": secret.rotation_policy,
            "due_at": due.isoformat() if due else None,
            "days_overdue": (now - due).days if due else 0,
            "owner": getattr(secret.owner, "email", ""),
        },
    )
    if secret.owner and secret.owner.email:
        from vault import notifications

        transaction.on_commit(lambda: notifications.send_rotation_reminder(secret_id=secret.pk))


# --- key-encryption key -----------------------------------------------------------------
def kek_rewrap(*, actor: Any, schemas: list[str] | None = None) -> dict[str, int]:
    """KEK rotation (operators): re-wrap data keys under the primary KEK, tenant by tenant.

    Each data key moves in its own short transaction, so reads continue throughout; the
    audit event goes to the public schema's log once the work is done.
    """
    from django_tenants.utils import schema_context

    moved = keyring.rewrap_all(schemas)
    with schema_context("public"), transaction.atomic():
        audit.record(
            action="vault.kek.rewrap",
            actor=actor,
            payload={"primary": keyring.status()["primary"], "moved": moved},
        )
    return moved

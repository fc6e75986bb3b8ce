"""Writes for environments, enrolment, agents and releases (the pipeline is in pipeline.py).

Keyword-only, atomic, audited in the same transaction; websocket side effects on commit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from compliance import audit
from deployments import conf, signing
from deployments.agent.protocol import challenge_payload, manifest_problems
from deployments.models import (
    Agent,
    AgentChallenge,
    EnrollmentToken,
    Environment,
    EnvironmentVariable,
    Release,
    TerminalAllowedCommand,
)
from tenants.billing.limits import check_limit
from tenants.members.permissions import authorize
from vault.models import ENV_RE


class EnrollmentRefused(PermissionDenied):
    pass


class AgentAuthRefused(PermissionDenied):
    pass


def agent_group(agent_id: int, schema: str | None = None) -> str:
    return f"deploy-agent.{schema or connection.schema_name}.{agent_id}"


def send_to_agent(agent_id: int, payload: dict[str, Any], *, kind: str = "agent.command") -> None:
    """Deliver a message to the agent's socket, if it is connected (fire and forget)."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(agent_group(agent_id), {"type": kind, "payload": payload})


# --- Environments -----------------------------------------------------------------------
@transaction.atomic
def environment_create(
    *, name: str, actor: Any, description: str = "", is_production: bool = False, approvals_required: int = 0
) -> Environment:
    authorize(actor, "environments.manage")
    if not ENV_RE.match(name or ""):
        # The vault's environment slug: anything else could never hold a working ${vault:…} reference.
        message = "Use a lower-case slug of up to 32 characters (letters, digits, '-')."
        raise ValidationError({"name": [message]})
    if Environment.objects.filter(name=name).exists():
        raise ValidationError({"name": [f"An environment named {name!r} already exists."]})
    check_limit(connection.tenant, "environments")
    environment = Environment.objects.create(
        name=name, description=description, is_production=is_production, approvals_required=approvals_required
    )
    signing.release_key_active(actor=actor)  # agents pin the release key when they enrol
    audit.record(action="deployments.environment.created", actor=actor, target=environment)
    return environment


@transaction.atomic
def environment_variable_set(
    *, environment: Environment, name: str, value: str, actor: Any
) -> EnvironmentVariable:
    authorize(actor, "environments.manage")
    if not name.replace("_", "").isalnum() or not name[:1].isalpha():
        raise ValidationError({"name": ["Use letters, digits and underscores, starting with a letter."]})
    variable, _ = EnvironmentVariable.objects.update_or_create(
        environment=environment, name=name, defaults={"value": value}
    )
    # The value may hold ${vault:…} references; it is never copied into the audit payload.
    audit.record(
        action="deployments.environment.variable_set", actor=actor, target=environment, payload={"name": name}
    )
    return variable


@transaction.atomic
def environment_update(
    *, environment: Environment, actor: Any, description: str, is_production: bool, approvals_required: int
) -> Environment:
    """Change an environment's settings. The name stays: agents and vault secrets refer to it."""
    authorize(actor, "environments.manage")
    if not 0 <= approvals_required <= 10:
        raise ValidationError({"approvals_required": ["Choose between 0 and 10 approvals."]})
    wanted = {
        "description": description[:200],
        "is_production": is_production,
        "approvals_required": approvals_required,
    }
    changes = {
        field: [getattr(environment, field), value]
        for field, value in wanted.items()
        if getattr(environment, field) != value
    }
    if changes:
        for field, (_, value) in changes.items():
            setattr(environment, field, value)
        environment.save(update_fields=list(changes))
        audit.record(
            action="deployments.environment.updated", actor=actor, target=environment, payload=changes
        )
    return environment


@transaction.atomic
def environment_variable_delete(*, variable: EnvironmentVariable, actor: Any) -> None:
    authorize(actor, "environments.manage")
    audit.record(
        action="deployments.environment.variable_deleted",
        actor=actor,
        target=variable.environment,
        payload={"name": variable.name},
    )
    variable.delete()


# --- Enrolment tokens and agents --------------------------------------------------------
@transaction.atomic
def enrollment_token_create(
    *, environment: Environment, actor: Any, expires_in: timedelta = timedelta(hours=24), max_uses: int = 1
) -> tuple[EnrollmentToken, str]:
    """Create a token; the raw value is returned once and only its hash is kept."""
    authorize(actor, "agents.manage")
    if not timedelta(0) < expires_in <= timedelta(days=conf.get("DEPLOY_TOKEN_MAX_DAYS")):
        raise ValidationError({"expires_in": ["Choose an expiry between a minute and the maximum allowed."]})
    if not 1 <= max_uses <= 1000:
        raise ValidationError({"max_uses": ["Choose between 1 and 1000 uses."]})
    raw = "tte_" + secrets.token_urlsafe(32)
    token = EnrollmentToken.objects.create(
        token_hash=EnrollmentToken.hash(raw),
        prefix=raw[:10],
        environment=environment,
        expires_at=timezone.now() + expires_in,
        max_uses=max_uses,
        created_by=actor,
    )
    audit.record(
        action="deployments.enrollment_token.created",
        actor=actor,
        target=token,
        payload={
            "environment": environment.name,
            "max_uses": max_uses,
            "expires_at": token.expires_at.isoformat(),
        },
    )
    return token, raw


@transaction.atomic
def enrollment_token_revoke(*, token: EnrollmentToken, actor: Any) -> EnrollmentToken:
    authorize(actor, "agents.manage")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(action="deployments.enrollment_token.revoked", actor=actor, target=token)
    return token


@transaction.atomic
def agent_enroll(
    *, raw_token: str, public_key: str, host_fingerprint: str, name: str, agent_version: str = ""
) -> Agent:
    token = (
        EnrollmentToken.objects.select_for_update()
        .filter(token_hash=EnrollmentToken.hash(raw_token or ""))
        .select_related("environment")
        .first()
    )
    if token is None:
        raise EnrollmentRefused("Unknown enrolment token.")
    if token.revoked_at is not None:
        raise EnrollmentRefused("This enrolment token was revoked.")
    if token.expires_at <= timezone.now():
        raise EnrollmentRefused("This enrolment token has expired.")
    if token.uses >= token.max_uses:
        raise EnrollmentRefused("This enrolment token has been used up.")
    check_limit(connection.tenant, "agents")
    try:
        signing.public_key_from_b64(public_key)
    except ValueError as exc:
        raise ValidationError({"public_key": ["Send a raw Ed25519 public key, base64-encoded."]}) from exc
    if not host_fingerprint or len(host_fingerprint) > 128:
        raise ValidationError(
            {"host_fingerprint": ["A host fingerprint of up to 128 characters is required."]}
        )
    token.uses += 1
    token.save(update_fields=["uses"])
    try:
        with transaction.atomic():
            agent = Agent.objects.create(
                name=(name or host_fingerprint[:16])[:100],
                environment=token.environment,
                public_key=public_key,
                host_fingerprint=host_fingerprint,
                agent_version=agent_version[:32],
                enrolled_with=token,
            )
    except IntegrityError as exc:
        raise EnrollmentRefused("This key is already enrolled; generate a new key pair.") from exc
    audit.record(
        action="deployments.agent.enrolled",
        actor=agent,
        target=agent,
        payload={"token": token.prefix, "environment": token.environment.name, "key": agent.key_fingerprint},
    )
    return agent


@transaction.atomic
def agent_challenge_issue(*, agent_id: int) -> str:
    agent = Agent.objects.filter(pk=agent_id).first()
    nonce = secrets.token_hex(32)
    AgentChallenge.objects.create(
        agent=agent,  # None for unknown ids: the answer then fails like a bad signature
        nonce=nonce,
        expires_at=timezone.now() + timedelta(seconds=conf.get("DEPLOY_CHALLENGE_SECONDS")),
    )
    return nonce


@transaction.atomic
def agent_authenticate(*, agent_id: int, nonce: str, signature: str) -> Agent:
    """Consume the challenge (once) and check the agent's signature over it."""
    now = timezone.now()
    used = AgentChallenge.objects.filter(
        nonce=nonce, agent_id=agent_id, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    agent = Agent.objects.select_for_update().filter(pk=agent_id).first()
    if not used or agent is None:
        raise AgentAuthRefused("Challenge unknown, expired or already used.")
    if agent.revoked_at is not None:
        raise AgentAuthRefused("This agent's credentials were revoked; enrol it again with a new token.")
    if not signing.verify(agent.public_key, signature, challenge_payload(agent_id=agent.pk, nonce=nonce)):
        raise AgentAuthRefused("Signature does not match this agent's key.")
    came_online = agent.status != Agent.Status.ONLINE
    agent.status, agent.last_seen = Agent.Status.ONLINE, now
    agent.save(update_fields=["status", "last_seen"])
    if came_online:
        audit.record(action="deployments.agent.online", actor=agent, target=agent)
    return agent


def agent_heartbeat(*, agent_id: int, agent_version: str = "") -> None:
    now = timezone.now()
    updated = Agent.objects.filter(pk=agent_id, revoked_at__isnull=True).update(
        last_seen=now, status=Agent.Status.ONLINE
    )
    if not updated:
        raise AgentAuthRefused("This agent's credentials were revoked.")


@transaction.atomic
def agents_mark_offline(*, now: Any = None) -> int:
    """Agents silent for more than N heartbeats go offline (run by beat in every tenant)."""
    now = now or timezone.now()
    cutoff = now - timedelta(
        seconds=conf.get("DEPLOY_HEARTBEAT_SECONDS") * conf.get("DEPLOY_MISSED_HEARTBEATS")
    )
    stale = list(Agent.objects.select_for_update().filter(status=Agent.Status.ONLINE, last_seen__lt=cutoff))
    for agent in stale:
        agent.status = Agent.Status.OFFLINE
        agent.save(update_fields=["status"])
        audit.record(
            action="deployments.agent.offline",
            actor=None,
            target=agent,
            payload={"last_seen": agent.last_seen.isoformat() if agent.last_seen else None},
        )
    AgentChallenge.objects.filter(expires_at__lt=now - timedelta(hours=1)).delete()
    return len(stale)


@transaction.atomic
def agent_revoke(*, agent: Agent, actor: Any) -> Agent:
    authorize(actor, "agents.manage")
    if agent.revoked_at is None:
        agent.revoked_at = timezone.now()
        agent.status = Agent.Status.REVOKED
        agent.save(update_fields=["revoked_at", "status"])
        audit.record(action="deployments.agent.revoked", actor=actor, target=agent)
        agent_id = agent.pk
        transaction.on_commit(lambda: send_to_agent(agent_id, {}, kind="agent.revoked"))
    return agent


# --- Releases ---------------------------------------------------------------------------
def _hash_upload(upload: File) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    upload.seek(0)
    for block in upload.chunks() if hasattr(upload, "chunks") else iter(lambda: upload.read(1 << 16), b""):
        digest.update(block)
        size += len(block)
    upload.seek(0)
    return digest.hexdigest(), size


def _check_tarball(upload: File) -> None:
    import tarfile

    upload.seek(0)
    try:
        with tarfile.open(fileobj=upload, mode="r:*") as archive:
            for member in archive.getmembers():
                if (
                    member.name.startswith("/")
                    or ".." in member.name.split("/")
                    or member.issym()
                    or member.islnk()
                ):
                    raise ValidationError(
                        {"artifact": [f"The archive entry {member.name!r} is not allowed."]}
                    )
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValidationError({"artifact": ["The artifact is not a readable tar archive."]}) from exc
    finally:
        upload.seek(0)


@transaction.atomic
def release_create(*, version: str, artifact: File, manifest: Any, actor: Any, notes: str = "") -> Release:
    """Store the artifact (tenant-prefixed storage), validate the manifest, sign the release."""
    authorize(actor, "releases.manage")
    problems = manifest_problems(manifest)
    if problems:
        raise ValidationError({"manifest": problems})
    if not version or len(version) > 64 or not all(ch.isalnum() or ch in ".-+_" for ch in version):
        raise ValidationError({"version": ["Use letters, digits, dots, dashes, plus or underscores."]})
    if Release.objects.filter(version=version).exists():
        raise ValidationError({"version": [f"Release {version} already exists."]})
    sha256, size = _hash_upload(artifact)
    if size == 0 or size > conf.get("DEPLOY_ARTIFACT_MAX_BYTES"):
        raise ValidationError({"artifact": ["The artifact is empty or larger than allowed."]})
    _check_tarball(artifact)
    release = Release(
        version=version,
        manifest=manifest,
        artifact_sha256=sha256,
        artifact_size=size,
        notes=notes,
        created_by=actor,
    )
    release.artifact.save(f"{version}-{sha256[:12]}.tar.gz", artifact, save=False)
    release.signing_key, release.signature = signing.release_sign(release=release, actor=actor)
    release.save()
    audit.record(
        action="deployments.release.created",
        actor=actor,
        target=release,
        payload={"version": version, "sha256": sha256, "size": size, "key": release.signing_key.public_key},
    )
    return release


# --- Terminal allow-list ----------------------------------------------------------------
@transaction.atomic
def terminal_command_allow(*, program: str, actor: Any, description: str = "") -> TerminalAllowedCommand:
    authorize(actor, "agents.manage")
    if not program or "/" in program or not all(ch.isalnum() or ch in "-_." for ch in program):
        raise ValidationError({"program": ["Give a bare program name (no path, no spaces)."]})
    entry, _ = TerminalAllowedCommand.objects.get_or_create(
        program=program, defaults={"description": description}
    )
    audit.record(action="deployments.terminal.allow", actor=actor, target=entry, payload={"program": program})
    return entry


@transaction.atomic
def terminal_command_disallow(*, entry: TerminalAllowedCommand, actor: Any) -> None:
    authorize(actor, "agents.manage")
    audit.record(
        action="deployments.terminal.disallow", actor=actor, target=entry, payload={"program": entry.program}
    )
    entry.delete()

"""Models of the deployments app (tenant schema).

Environments hold agents and variables; releases are signed artifacts; a deploy run moves
one release onto an environment's agents through recorded steps. Agents stream logs
(stored as chunks, one row per agent batch) and host recorded terminal sessions.

Other apps read these (alerts: `Agent.status`/`Agent.last_seen`, `DeployRun.status`);
keep the names stable.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Environment(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)
    is_production = models.BooleanField(default=False)
    approvals_required = models.PositiveSmallIntegerField(
        default=0, help_text="Approvals (deploy.approve) a run needs before it starts."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EnvironmentVariable(models.Model):
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=64)
    value = models.TextField(blank=True, help_text="May contain ${vault:name} references.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="deploy_env_var_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.environment}:{self.name}"


class EnrollmentToken(models.Model):
    """A one-time secret an org_admin hands to a node; only its hash is stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="enrollment_tokens")
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token {self.prefix}…"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.uses < self.max_uses and self.expires_at > timezone.now()


class Agent(models.Model):
    class Status(models.TextChoices):
        ONLINE = "online"
        OFFLINE = "offline"
        REVOKED = "revoked"

    audit_actor_type = "agent"

    name = models.CharField(max_length=100)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="agents")
    public_key = models.CharField(max_length=64, unique=True, help_text="Raw Ed25519 key, base64.")
    host_fingerprint = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OFFLINE)
    last_seen = models.DateTimeField(null=True, blank=True)
    agent_version = models.CharField(max_length=32, blank=True)
    enrolled_at = models.DateTimeField(default=timezone.now)
    enrolled_with = models.ForeignKey(EnrollmentToken, null=True, on_delete=models.SET_NULL, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Highest reliable-message sequence number persisted (agent → portal, exactly once).
    last_seq = models.BigIntegerField(default=0)
    deployed_release = models.ForeignKey(
        "Release", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def key_fingerprint(self) -> str:
        return hashlib.sha256(self.public_key.encode()).hexdigest()[:16]


class AgentChallenge(models.Model):
    """A nonce the portal asked an agent to sign; usable once, briefly."""

    agent = models.ForeignKey(Agent, null=True, on_delete=models.CASCADE, related_name="challenges")
    nonce = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"challenge for agent {self.agent_id}"


class ReleaseKey(models.Model):
    """The tenant's Ed25519 release-signing key. The private half lives in the vault.

    Rotation (`deployments.release_keys`) makes a new active key endorsed by the previous
    one (`endorsement`: the old key's signature over the rotation statement) and retires the
    old key: it signs nothing any more, but agents keep it to verify rollbacks.
    """

    public_key = models.CharField(max_length=64, unique=True)
    private_key_ref = models.CharField(max_length=200, help_text="Where the vault holds the private key.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    previous = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="successor"
    )
    endorsement = models.CharField(max_length=128, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"release key {self.key_id}"

    @property
    def key_id(self) -> str:
        from deployments.agent.protocol import release_key_id

        return release_key_id(self.public_key)


class Release(models.Model):
    version = models.CharField(max_length=64, unique=True)
    artifact = models.FileField(upload_to="releases/", max_length=300)
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.BigIntegerField(default=0)
    manifest = models.JSONField(default=dict)
    signature = models.CharField(max_length=128, blank=True)
    signing_key = models.ForeignKey(ReleaseKey, null=True, on_delete=models.PROTECT, related_name="releases")
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.version

    @property
    def key_id(self) -> str:
        """The id of the release key that signed this release (the signature's metadata)."""
        return self.signing_key.key_id if self.signing_key_id else ""


class DeployRun(models.Model):
    class Status(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval"
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        ROLLED_BACK = "rolled_back"
        CANCELLED = "cancelled"

    ACTIVE = (Status.AWAITING_APPROVAL, Status.QUEUED, Status.RUNNING)
    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.ROLLED_BACK, Status.CANCELLED)

    class Kind(models.TextChoices):
        DEPLOY = "deploy"
        ROLLBACK = "rollback"

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="runs")
    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="runs")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.DEPLOY)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The per-environment lock: the database refuses a second *running* run; others
            # wait as `queued` and start in order when it frees (pipeline.run_execute).
            models.UniqueConstraint(
                fields=["environment"],
                condition=Q(status="running"),
                name="deploy_one_running_run_per_environment",
            )
        ]

    def __str__(self) -> str:
        return f"run #{self.pk} {self.release} → {self.environment}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class DeployApproval(models.Model):
    run = models.ForeignKey(DeployRun, on_delete=models.CASCADE, related_name="approvals")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "approver"], name="deploy_approval_once")]

    def __str__(self) -> str:
        return f"approval of run {self.run_id}"


class DeployTarget(models.Model):
    """One agent's part of a run."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DISPATCHED = "dispatched"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        ROLLED_BACK = "rolled_back"

    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.ROLLED_BACK)

    run = models.ForeignKey(DeployRun, on_delete=models.CASCADE, related_name="targets")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="targets")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True)
    backup_name = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "agent"], name="deploy_target_once")]

    def __str__(self) -> str:
        return f"run {self.run_id} on agent {self.agent_id}"


class DeployStep(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        SKIPPED = "skipped"

    run = models.ForeignKey(DeployRun, on_delete=models.CASCADE, related_name="steps")
    target = models.ForeignKey(
        DeployTarget, null=True, blank=True, on_delete=models.CASCADE, related_name="steps"
    )
    name = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    output = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    @property
    def duration_ms(self) -> int | None:
        if not self.finished_at:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class LogChunk(models.Model):
    """One agent batch of log lines: `lines` is a list of [ts, level, stream, text]."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="log_chunks")
    run = models.ForeignKey(
        DeployRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="log_chunks"
    )
    seq = models.BigIntegerField()
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    line_count = models.PositiveIntegerField(default=0)
    lines = models.JSONField(default=list)

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [models.Index(fields=["agent", "received_at"], name="deploy_log_agent_time")]

    def __str__(self) -> str:
        return f"logs {self.agent_id}#{self.seq}"


class TerminalAllowedCommand(models.Model):
    """The tenant's terminal allow-list: programs an operator may run on an agent."""

    program = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["program"]

    def __str__(self) -> str:
        return self.program


class TerminalSession(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="terminal_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=64, blank=True)
    commands_run = models.PositiveIntegerField(default=0)
    commands_refused = models.PositiveIntegerField(default=0)
    recording = models.CharField(max_length=300, blank=True)
    recording_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"terminal #{self.pk} on {self.agent}"

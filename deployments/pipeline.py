"""The deploy pipeline: authorize → validate → backup → apply → verify → (rollback) → record.

The portal does authorize and validate itself (Celery), then dispatches a signed command to
each agent of the environment. Agents run backup/apply/verify, roll back on their own when
something fails, and report step events and a final result as reliable messages, so a run
survives a disconnect: the outcome is reconciled whenever the agent comes back.
"""

from __future__ import annotations

import hashlib
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import signing as django_signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from compliance import audit, policies
from deployments import conf, signing
from deployments.agent.protocol import is_newer, manifest_problems
from deployments.models import (
    Agent,
    DeployApproval,
    DeployRun,
    DeployStep,
    DeployTarget,
    Environment,
    Release,
)
from deployments.release_keys import release_key_set
from tenants.billing.limits import check_limit
from tenants.members.permissions import authorize

Status = DeployRun.Status


def _broadcast(run: DeployRun) -> None:
    from deployments.consumers.base import logs_group
    from deployments.selectors import run_snapshot

    layer = get_channel_layer()
    if layer is None:
        return
    snapshot = run_snapshot(run)
    group = logs_group(connection.schema_name, "run", run.pk)
    transaction.on_commit(
        lambda: async_to_sync(layer.group_send)(group, {"type": "run.update", "run": snapshot})
    )


def _step(
    run: DeployRun, name: str, state: str, output: str = "", target: DeployTarget | None = None
) -> DeployStep:
    output = output[-conf.get("DEPLOY_STEP_OUTPUT_MAX_CHARS") :]
    step = DeployStep.objects.filter(run=run, target=target, name=name, state=DeployStep.State.RUNNING).last()
    if step is None:
        step = DeployStep(run=run, target=target, name=name)
    step.state = state
    if output:
        step.output = (step.output + ("\n" if step.output else "") + output)[
            -conf.get("DEPLOY_STEP_OUTPUT_MAX_CHARS") :
        ]
    if state != DeployStep.State.RUNNING:
        step.finished_at = timezone.now()
    step.save()
    return step


def _finish(run: DeployRun, status: str, error: str = "") -> None:
    run.status, run.error, run.finished_at = status, error[:4000], timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    _step(run, "record", DeployStep.State.SUCCEEDED, f"Run finished: {status}.")
    audit.record(
        action=f"deployments.run.{status}",
        actor=None,
        target=run,
        payload={
            "environment": run.environment.name,
            "release": run.release.version,
            "kind": run.kind,
            "error": error,
        },
    )
    _broadcast(run)
    _start_next(run.environment_id)


# --- request, approve, roll back --------------------------------------------------------
def _policy_context(
    environment: Environment, release: Release, *, actor: Any, kind: str, **facts: Any
) -> dict[str, Any]:
    """The `deploy.run` policy context (keys listed in compliance/policies.py).

    `approvals`/`approved` are stated only where the run would start: at the request when the
    environment has no approval gate, else when the gate's last approval arrives.
    """
    return {
        "actor": actor,
        "environment": environment.name,
        "is_production": environment.is_production,
        "release": release.version,
        "kind": kind,
        "approvals_required": environment.approvals_required,
        "release_signed": bool(release.signature),
        **facts,
    }


@transaction.atomic
def deploy_request(
    *,
    environment: Environment,
    release: Release,
    actor: Any,
    kind: str = DeployRun.Kind.DEPLOY,
    reason: str = "",
) -> DeployRun:
    authorize(actor, "deploy.run")
    if kind != DeployRun.Kind.ROLLBACK:  # a rollback restores service; it is never refused
        check_limit(connection.tenant, "deploys_per_month")
    waiting = environment.approvals_required > 0
    # Without an approval gate the run starts now, with no approvals: say so to the policies.
    starts_now = {} if waiting else {"approvals": 0, "approved": False}
    policies.evaluate(
        "deploy.run", _policy_context(environment, release, actor=actor, kind=kind, **starts_now)
    ).raise_if_blocked()
    run = DeployRun.objects.create(
        environment=environment,
        release=release,
        kind=kind,
        requested_by=actor,
        reason=reason[:300],
        status=Status.AWAITING_APPROVAL if waiting else Status.QUEUED,
    )
    ahead = None if waiting else _ahead_of(run)
    _step(
        run,
        "authorize",
        DeployStep.State.RUNNING if waiting else DeployStep.State.SUCCEEDED,
        f"Requested by {actor.email} (role {actor.role}); policy allowed."
        + (f" Waiting for {environment.approvals_required} approval(s)." if waiting else "")
        + (
            f" Queued behind run #{ahead.pk} ({ahead.status}); it starts when that one ends." if ahead else ""
        ),
    )
    audit.record(
        action="deployments.run.requested",
        actor=actor,
        target=run,
        payload={"environment": environment.name, "release": release.version, "kind": kind},
    )
    if not waiting:
        _enqueue(run)
    return run


def _ahead_of(run: DeployRun) -> DeployRun | None:
    """The run this one waits for: the environment's running run, or an earlier queued one."""
    return (
        DeployRun.objects.filter(environment_id=run.environment_id)
        .filter(Q(status=Status.RUNNING) | Q(status=Status.QUEUED, pk__lt=run.pk))
        .exclude(pk=run.pk)
        .order_by("pk")
        .first()
    )


def _start_next(environment_id: int) -> None:
    """The lock freed: the environment's oldest queued run gets its turn (after commit)."""
    following = (
        DeployRun.objects.filter(environment_id=environment_id, status=Status.QUEUED).order_by("pk").first()
    )
    if following is not None:
        _enqueue(following)


def _enqueue(run: DeployRun) -> None:
    from deployments.tasks import deploy_run_execute

    run_id = run.pk
    transaction.on_commit(lambda: deploy_run_execute.delay(run_id))


@transaction.atomic
def deploy_approve(*, run: DeployRun, actor: Any) -> DeployRun:
    authorize(actor, "deploy.approve")
    run = DeployRun.objects.select_for_update().get(pk=run.pk)
    if run.status != Status.AWAITING_APPROVAL:
        raise ValidationError("This run is not waiting for approval.")
    if run.requested_by_id == actor.pk:
        raise PermissionDenied("You cannot approve your own deploy.")
    DeployApproval.objects.get_or_create(run=run, approver=actor)
    audit.record(action="deployments.run.approved", actor=actor, target=run)
    approvals = run.approvals.count()
    if approvals >= run.environment.approvals_required:
        _open_gate(run, actor, approvals, f"Approved by {actor.email}")
    _broadcast(run)
    return run


@transaction.atomic
def deploy_recheck(*, run: DeployRun, actor: Any) -> DeployRun:
    """Evaluate the policies again for a run whose approvals are all in but a policy held it
    (the policy may have been changed or switched off since). Adds no approval."""
    authorize(actor, "deploy.run")
    run = DeployRun.objects.select_for_update().get(pk=run.pk)
    if run.status != Status.AWAITING_APPROVAL:
        raise ValidationError("This run is not waiting: there is nothing to check again.")
    approvals, required = run.approvals.count(), run.environment.approvals_required
    if approvals < required:
        raise ValidationError(
            f"This run still needs {required - approvals} approval(s); "
            "its policies are checked when the last one arrives."
        )
    audit.record(action="deployments.run.rechecked", actor=actor, target=run)
    _open_gate(run, actor, approvals, f"Policies checked again by {actor.email}")
    _broadcast(run)
    return run


def _open_gate(run: DeployRun, actor: Any, approvals: int, who: str) -> None:
    """The approval gate is satisfied: the run's policies decide with the approvals it really
    has. A block keeps the run waiting (a further approver, or a changed policy, may let it go)."""
    decision = policies.evaluate(
        "deploy.run",
        _policy_context(
            run.environment, run.release, actor=actor, kind=run.kind, approvals=approvals, approved=True
        ),
    )
    if decision.blocked:
        _step(
            run,
            "authorize",
            DeployStep.State.RUNNING,
            f"{who} ({approvals} approval(s)); still held by policy: " + "; ".join(decision.messages),
        )
    else:
        run.status = Status.QUEUED
        run.save(update_fields=["status"])
        _step(run, "authorize", DeployStep.State.SUCCEEDED, f"{who}.")
        _enqueue(run)


@transaction.atomic
def deploy_rollback(*, environment: Environment, release: Release, actor: Any, reason: str = "") -> DeployRun:
    """One-click rollback: redeploy an earlier release that once succeeded here."""
    succeeded = DeployRun.objects.filter(environment=environment, release=release, status=Status.SUCCEEDED)
    if not succeeded.exists():
        raise ValidationError(f"Release {release.version} never deployed successfully to {environment.name}.")
    return deploy_request(
        environment=environment, release=release, actor=actor, kind=DeployRun.Kind.ROLLBACK, reason=reason
    )


@transaction.atomic
def run_cancel(*, run: DeployRun, actor: Any) -> DeployRun:
    authorize(actor, "deploy.run")
    run = DeployRun.objects.select_for_update().get(pk=run.pk)
    if run.status not in (Status.AWAITING_APPROVAL, Status.QUEUED):
        raise ValidationError("Only a run that has not started can be cancelled.")
    audit.record(action="deployments.run.cancel_requested", actor=actor, target=run)
    _finish(run, Status.CANCELLED, f"Cancelled by {actor.email}.")
    return run


# --- execution (Celery) -----------------------------------------------------------------
def _validate(run: DeployRun, agents: list[Agent]) -> list[str]:
    release = run.release
    problems = list(manifest_problems(release.manifest))
    if not signing.release_signature_valid(release):
        problems.append("The release signature is missing or does not match the release.")
    elif run.kind == DeployRun.Kind.DEPLOY and release.signing_key and not release.signing_key.is_active:
        problems.append(
            f"Release {release.version} is signed with retired release key {release.signing_key.key_id}; "
            "a retired key only verifies rollbacks. Upload it again under a new version to sign it "
            "with the current key."
        )
    try:
        with release.artifact.open("rb") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
        if digest.hexdigest() != release.artifact_sha256:
            problems.append("The stored artifact does not match its recorded hash (corrupted or tampered).")
    except (OSError, ValueError):
        problems.append("The artifact cannot be read from storage.")
    if not agents:
        problems.append(f"Environment {run.environment.name} has no enrolled agent.")
    if run.kind == DeployRun.Kind.DEPLOY:
        for agent in agents:
            current = agent.deployed_release.version if agent.deployed_release else None
            if not is_newer(release.version, current):
                problems.append(
                    f"Release {release.version} is not newer than {current} on {agent.name}; use a rollback."
                )
    return problems


@transaction.atomic
def run_execute(*, run_id: int) -> DeployRun:
    run = DeployRun.objects.select_for_update().select_related("release", "environment").get(pk=run_id)
    if run.status != Status.QUEUED or _ahead_of(run) is not None:
        return run  # not its turn yet: the run ahead starts it when it ends (_finish)
    run.status, run.started_at = Status.RUNNING, timezone.now()
    try:
        with transaction.atomic():
            run.save(update_fields=["status", "started_at"])
    except IntegrityError:  # another run of this environment took the lock at the same moment
        run.status, run.started_at = Status.QUEUED, None
        return run
    agents = list(
        Agent.objects.filter(environment=run.environment, revoked_at__isnull=True).select_related(
            "deployed_release"
        )
    )
    problems = _validate(run, agents)
    variables: dict[str, str] = {}
    if not problems:
        try:
            variables = _resolve_variables(run)
        except (ValidationError, PermissionDenied, LookupError) as exc:
            problems.append(f"Variables could not be resolved: {exc}")
    if problems:
        _step(run, "validate", DeployStep.State.FAILED, "\n".join(problems))
        _finish(run, Status.FAILED, "Refused before any change: " + " ".join(problems))
        return run
    _step(
        run,
        "validate",
        DeployStep.State.SUCCEEDED,
        f"Signature, artifact hash and manifest of {run.release} OK.",
    )
    for agent in agents:
        target = DeployTarget.objects.create(
            run=run, agent=agent, status=DeployTarget.Status.DISPATCHED, dispatched_at=timezone.now()
        )
        command = deploy_command(target, variables=variables)
        agent_id = agent.pk
        transaction.on_commit(lambda a=agent_id, c=command: _send(a, c))
    audit.record(action="deployments.run.dispatched", actor=None, target=run, payload={"agents": len(agents)})
    _broadcast(run)
    return run


def _send(agent_id: int, command: dict) -> None:
    from deployments.services import send_to_agent

    send_to_agent(agent_id, command)


def _resolve_variables(run: DeployRun) -> dict[str, str]:
    values = {}
    for variable in run.environment.variables.all():
        if "${vault:" in variable.value:
            from vault.services import resolve_references  # the vault app's public service

            values[variable.name] = resolve_references(
                variable.value, environment=run.environment.name, actor=run.requested_by
            )
        else:
            values[variable.name] = variable.value
    return values


def link_token(*, agent_id: int, run_id: int, purpose: str) -> str:
    return django_signing.dumps(
        {"a": agent_id, "r": run_id, "p": purpose},
        salt=f"deploy-link:{connection.schema_name}",
        compress=True,
    )


def link_load(token: str, *, purpose: str) -> tuple[int, int]:
    """(agent_id, run_id) from a link the portal handed an agent; raises PermissionDenied."""
    try:
        data = django_signing.loads(
            token, salt=f"deploy-link:{connection.schema_name}", max_age=conf.get("DEPLOY_LINK_SECONDS")
        )
    except django_signing.BadSignature as exc:
        raise PermissionDenied("This link is invalid or expired.") from exc
    if data.get("p") != purpose:
        raise PermissionDenied("This link is not for this purpose.")
    return int(data["a"]), int(data["r"])


def deploy_command(target: DeployTarget, *, variables: dict[str, str] | None = None) -> dict:
    run, release = target.run, target.run.release
    if variables is None:
        variables = _resolve_variables(run)
    base = "/api/v1/deployments/agent-links"
    return {
        "type": "deploy",
        "run_id": run.pk,
        "rollback": run.kind == DeployRun.Kind.ROLLBACK,
        "release": {
            "version": release.version,
            "artifact_sha256": release.artifact_sha256,
            "manifest": release.manifest,
            "signature": release.signature,
            "key_id": release.signing_key.key_id if release.signing_key else "",
        },
        # The key set rides along, so an agent that missed a rotation learns the new key first.
        "release_keys": release_key_set(),
        "artifact_url": f"{base}/{link_token(agent_id=target.agent_id, run_id=run.pk, purpose='artifact')}/",
        "backup_url": f"{base}/{link_token(agent_id=target.agent_id, run_id=run.pk, purpose='backup')}/",
        "migrate_url": f"{base}/{link_token(agent_id=target.agent_id, run_id=run.pk, purpose='migrate')}"
        "/migrate/",
        "variables": variables,
    }


def pending_commands(*, agent: Agent) -> list[dict]:
    """Commands the agent missed while away (sent again on every reconnect; the agent dedupes)."""
    targets = DeployTarget.objects.filter(
        agent=agent,
        status__in=[DeployTarget.Status.DISPATCHED, DeployTarget.Status.RUNNING],
        run__status=Status.RUNNING,
    ).select_related("run__release", "run__environment")
    commands = []
    for target in targets:
        try:
            commands.append(deploy_command(target))
        except Exception as exc:
            commands.append({"type": "noop", "reason": f"run {target.run_id}: {exc}"})
    return commands


def run_targets_agent(*, run_id: int, agent_id: int) -> bool:
    return DeployTarget.objects.filter(run_id=run_id, agent_id=agent_id).exists()


@transaction.atomic
def migrate_check(*, target: DeployTarget, backup_step: str) -> policies.Decision:
    """The agent asks just before it runs the release's migrate command: `deploy.migrate`.

    Whether a backup exists is the portal's own record (the name the backup upload stored
    for this target, and that object in storage); the agent only reports its step state. On a
    block the caller refuses (the violation and this run's audit event are kept) and the agent
    fails its apply step and rolls back.
    """
    run = target.run
    key = target.backup_name
    exists = bool(key) and backup_step == DeployStep.State.SUCCEEDED and default_storage.exists(key)
    decision = policies.evaluate(
        "deploy.migrate",
        {
            "actor": run.requested_by,
            "environment": run.environment.name,
            "is_production": run.environment.is_production,
            "release": run.release.version,
            "kind": run.kind,
            "run": run.pk,
            "backup_exists": exists,
            "backup_key": key,
            "backup_step": backup_step,
        },
    )
    if decision.blocked:
        audit.record(
            action="deployments.run.migrate_blocked",
            actor=None,
            target=run,
            payload={"agent": target.agent_id, "policies": decision.messages},
        )
    return decision


# --- agent reports ----------------------------------------------------------------------
@transaction.atomic
def agent_event(*, agent: Agent, seq: int, kind: str, data: dict) -> None:
    """A step event or final result from an agent; applied once (the seq advances with it)."""
    Agent.objects.filter(pk=agent.pk, last_seq__lt=seq).update(last_seq=seq)
    target = (
        DeployTarget.objects.select_for_update()
        .select_related("run__environment", "run__release")
        .filter(run_id=data.get("run_id"), agent=agent)
        .first()
    )
    if target is None or target.status in DeployTarget.FINAL:
        return
    run = target.run
    if kind == "step":
        state = data.get("state")
        if state not in DeployStep.State.values or str(data.get("step")) not in (
            "backup",
            "apply",
            "verify",
            "rollback",
        ):
            return
        _step(run, str(data["step"]), state, str(data.get("output", "")), target=target)
        if target.status == DeployTarget.Status.DISPATCHED:
            target.status = DeployTarget.Status.RUNNING
            target.save(update_fields=["status"])
        if data.get("backup_name"):
            target.backup_name = str(data["backup_name"])[:300]
            target.save(update_fields=["backup_name"])
        _broadcast(run)
        return
    status = data.get("status")
    if status not in DeployTarget.FINAL:
        return
    target.status, target.finished_at = status, timezone.now()
    target.detail = str(data.get("detail", ""))[:4000]
    target.save(update_fields=["status", "finished_at", "detail"])
    deployed = data.get("version")
    agent.deployed_release = Release.objects.filter(version=deployed).first() if deployed else None
    agent.save(update_fields=["deployed_release"])
    audit.record(
        action=f"deployments.target.{status}",
        actor=agent,
        target=run,
        payload={"agent": agent.pk, "version": deployed, "detail": target.detail[:500]},
    )
    _maybe_finish(run)


def _maybe_finish(run: DeployRun) -> None:
    statuses = list(run.targets.values_list("status", flat=True))
    if run.is_final or any(status not in DeployTarget.FINAL for status in statuses):
        _broadcast(run)
        return
    if all(status == DeployTarget.Status.SUCCEEDED for status in statuses):
        _finish(run, Status.SUCCEEDED)
    elif DeployTarget.Status.FAILED in statuses:
        details = "; ".join(filter(None, run.targets.values_list("detail", flat=True)))
        _finish(run, Status.FAILED, details)
    else:
        details = "; ".join(filter(None, run.targets.values_list("detail", flat=True)))
        _finish(run, Status.ROLLED_BACK, details)

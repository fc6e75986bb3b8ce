"""Reads for deployments beyond one-line querysets."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from deployments.models import Agent, DeployRun, DeployStep, Environment, LogChunk, Release


def run_snapshot(run: DeployRun) -> dict[str, Any]:
    """What the live run view shows: status and every step with timing and output tail."""
    steps = DeployStep.objects.filter(run=run).select_related("target__agent").order_by("started_at", "id")
    return {
        "id": run.pk,
        "status": run.status,
        "kind": run.kind,
        "environment": run.environment.name,
        "release": run.release.version,
        "error": run.error,
        "steps": [
            {
                "id": step.pk,
                "name": step.name,
                "state": step.state,
                "agent": step.target.agent.name if step.target else None,
                "started_at": step.started_at.isoformat(),
                "finished_at": step.finished_at.isoformat() if step.finished_at else None,
                "duration_ms": step.duration_ms,
                "output": step.output[-4000:],
            }
            for step in steps
        ],
    }


def rollback_candidates(run_or_env: Any) -> QuerySet[Release]:
    """Earlier releases that once deployed successfully to the environment."""
    environment = getattr(run_or_env, "environment", run_or_env)
    return Release.objects.filter(
        runs__environment=environment, runs__status=DeployRun.Status.SUCCEEDED
    ).distinct()


def log_chunks_for(*, agent: Agent | None = None, run: DeployRun | None = None) -> QuerySet[LogChunk]:
    chunks = LogChunk.objects.all()
    if agent is not None:
        chunks = chunks.filter(agent=agent)
    if run is not None:
        chunks = chunks.filter(run=run)
    return chunks


def variable_reference_problems(environment: Environment) -> dict[int, list[str]]:
    """Per variable id: its `${vault:…}` references that a deploy here would refuse (the same
    checks as `vault.services.resolve_references`, without reading any value)."""
    from vault.models import Secret  # the vault app's model: names and environments only
    from vault.services import REFERENCE_RE

    references = {
        variable.pk: sorted(set(REFERENCE_RE.findall(variable.value)))
        for variable in environment.variables.all()
    }
    names = {name for found in references.values() for name in found}
    if not names:
        return {}
    homes = dict(
        Secret.objects.filter(name__in=names, deleted_at__isnull=True).values_list("name", "environment")
    )
    problems: dict[int, list[str]] = {}
    for variable_id, found in references.items():
        for name in found:
            if name not in homes:
                problems.setdefault(variable_id, []).append(f"${{vault:{name}}}: no such secret")
            elif homes[name] != environment.name:
                problems.setdefault(variable_id, []).append(
                    f"${{vault:{name}}}: belongs to {homes[name]}, not {environment.name}"
                )
    return problems


def run_held_by_policy(run: DeployRun) -> bool:
    """Waiting although every approval the environment asks for is in: a policy held it."""
    if run.status != DeployRun.Status.AWAITING_APPROVAL:
        return False
    return run.approvals.count() >= run.environment.approvals_required

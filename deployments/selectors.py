"""Reads for deployments beyond one-line querysets."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from deployments.models import Agent, DeployRun, DeployStep, LogChunk, Release


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

"""Governance tasks: thin wrappers that load by id and call a service."""

from __future__ import annotations

from celery import shared_task
from django.contrib.auth import get_user_model

from compliance.governance import services
from compliance.governance.models import DataSubjectRequest


@shared_task(autoretry_for=(ConnectionError,), retry_backoff=True, retry_jitter=True, max_retries=5)
def dsr_fulfil_task(dsr_id: int, actor_id: int) -> str:
    """Run a large export or erasure outside the request (the page runs small ones inline)."""
    dsr = DataSubjectRequest.objects.get(pk=dsr_id)
    if not dsr.is_open:
        return dsr.status
    actor = get_user_model().objects.get(pk=actor_id)
    return services.dsr_fulfil(dsr=dsr, actor=actor).status

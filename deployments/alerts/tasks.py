"""Alert tasks. Beat runs `alerts_evaluate_all` every 30 s (tenants/migrations/0003_alerts_schedule.py)."""

from __future__ import annotations

from deployments.alerts.senders import DeliveryFailed
from portal.celery import PlatformTask, app

EVALUATE_ALL = "deployments.alerts.tasks.alerts_evaluate_all"


@app.task(base=PlatformTask, name=EVALUATE_ALL, ignore_result=True, expires=25)
def alerts_evaluate_all() -> int:
    """Platform side of the beat: one evaluation task per serving tenant, in its schema."""
    from tenants.tasks import fan_out

    return fan_out(alerts_evaluate)


@app.task(name="deployments.alerts.tasks.alerts_evaluate", ignore_result=True, expires=25)
def alerts_evaluate() -> int:
    """Evaluate the current tenant's rules (TenantTask: refuses to run on public)."""
    from deployments.alerts import services

    return len(services.rules_evaluate())


@app.task(
    bind=True,
    name="deployments.alerts.tasks.alert_deliver",
    autoretry_for=(DeliveryFailed,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def alert_deliver(self, delivery_id: int) -> str:  # type: ignore[no-untyped-def]
    from deployments.alerts import services
    from deployments.alerts.models import AlertDelivery

    delivery = AlertDelivery.objects.select_related("event", "channel").filter(pk=delivery_id).first()
    if delivery is None:
        return "missing"
    final = self.request.retries >= self.max_retries
    return services.delivery_attempt(delivery=delivery, final=final).status

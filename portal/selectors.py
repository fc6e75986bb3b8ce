"""Reads behind the tenant dashboard and the operator console.

Other apps' models arrive independently, so every read of another app goes through
`_model()` and `_safe()`: while an app has no such model (or its table is not migrated
yet), the read returns None and the page says "not set up yet" instead of failing.
Each `_safe` call runs in a savepoint, so a failed probe never poisons the caller's
transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import FieldError
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone
from django_tenants.utils import schema_context

log = logging.getLogger(__name__)
T = TypeVar("T")


def _model(label: str) -> Any:
    """The model class, or None while its app has not defined it (typed Any: found at runtime)."""
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _safe(read: Callable[[], T], default: Any = None) -> T | Any:
    """Run a read of another app's data; on a missing field/table return `default`."""
    try:
        with transaction.atomic():
            return read()
    except (FieldError, DatabaseError, AttributeError, LookupError, TypeError) as exc:
        log.debug("dashboard read skipped: %s", exc)
        return default


# --- Tenant dashboard (runs in the tenant's schema) ---------------------------------------


@dataclass
class EnvironmentStatus:
    name: str
    is_production: bool
    last_status: str | None
    last_version: str | None
    last_at: Any


@dataclass
class UsageRow:
    label: str
    used: int | None
    limit: int | None

    @property
    def percent(self) -> int | None:
        if self.used is None or not self.limit:
            return None
        return min(100, round(100 * self.used / self.limit))

    @property
    def level(self) -> str:
        percent = self.percent
        if percent is None:
            return "ok"
        return "bad" if percent >= 100 else "warn" if percent >= 80 else "ok"


@dataclass
class TenantDashboard:
    environments: list[EnvironmentStatus] | None
    agents: dict[str, int] | None
    secrets_overdue: int | None
    compliance_score: int | None
    usage: list[UsageRow] = field(default_factory=list)


def environment_statuses() -> list[EnvironmentStatus] | None:
    """Each environment with its latest deploy run (one query)."""
    environment, run = _model("deployments.Environment"), _model("deployments.DeployRun")
    if environment is None or run is None:
        return None

    def read() -> list[EnvironmentStatus]:
        latest = run.objects.filter(environment=OuterRef("pk")).order_by("-created_at", "-id")
        rows = environment.objects.annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_version=Subquery(latest.values("release__version")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
        ).order_by("-is_production", "name")[:50]
        return [
            EnvironmentStatus(row.name, row.is_production, row.last_status, row.last_version, row.last_at)
            for row in rows
        ]

    return _safe(read)


def agent_counts() -> dict[str, int] | None:
    """{"online": n, "offline": m} for the current schema's agents (revoked ones left out)."""
    agent = _model("deployments.Agent")
    if agent is None:
        return None

    def read() -> dict[str, int]:
        counts = {"online": 0, "offline": 0}
        for row in agent.objects.exclude(status="revoked").values("status").annotate(n=Count("id")):
            counts[row["status"]] = row["n"]
        return counts

    return _safe(read)


def _first_callable(module_name: str, names: tuple[str, ...]) -> Callable[..., Any] | None:
    try:
        module = __import__(module_name, fromlist=["_"])
    except ImportError:
        return None
    for name in names:
        candidate = getattr(module, name, None)
        if callable(candidate):
            return candidate
    return None


def secrets_overdue_count() -> int | None:
    """Secrets due or overdue for rotation, as the vault's own selector defines it."""
    selector = _first_callable("vault.selectors", ("rotation_needed", "secrets_overdue"))
    if selector is None:
        return None

    def read() -> int:
        result = selector()
        return result if isinstance(result, int) else result.count()

    return _safe(read)


COMPLIANCE_SCORE_CACHE_SECONDS = 300


def compliance_score() -> int | None:
    """0–100 across every framework (governance's `overall_score`), cached per tenant.

    Building the reports runs every evidence collector, so the dashboard reuses a recent
    score; cache keys carry the schema name, so tenants never share one.
    """
    try:
        from compliance.governance.reports import overall_score, parse_period
    except ImportError:
        return None
    cached = cache.get("dashboard:compliance-score")
    if cached is not None:
        return int(cached)
    value = _safe(lambda: overall_score(parse_period(None, None)).get("score"))
    if isinstance(value, int | float):
        cache.set("dashboard:compliance-score", int(value), COMPLIANCE_SCORE_CACHE_SECONDS)
        return int(value)
    return None


def _count(label: str, **filters: Any) -> int | None:
    model = _model(label)
    if model is None:
        return None
    return _safe(lambda: model.objects.filter(**filters).count())


def plan_usage(tenant: Any) -> list[UsageRow]:
    """Usage against the plan's limits, read in the *current* schema (the tenant's)."""
    from portal.accounts.models import User

    plan = tenant.plan
    month_start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return [
        UsageRow("Members", User.objects.filter(is_active=True).count(), getattr(plan, "max_members", None)),
        UsageRow(
            "Agents",
            _safe(lambda: _model("deployments.Agent").objects.exclude(status="revoked").count())
            if _model("deployments.Agent")
            else None,
            getattr(plan, "max_agents", None),
        ),
        UsageRow("Environments", _count("deployments.Environment"), getattr(plan, "max_environments", None)),
        UsageRow("Secrets", _count("vault.Secret"), getattr(plan, "max_secrets", None)),
        UsageRow(
            "Deploys this month",
            _count("deployments.DeployRun", created_at__gte=month_start),
            getattr(plan, "max_deploys_per_month", None),
        ),
    ]


def tenant_dashboard(tenant: Any) -> TenantDashboard:
    return TenantDashboard(
        environments=environment_statuses(),
        agents=agent_counts(),
        secrets_overdue=secrets_overdue_count(),
        compliance_score=compliance_score(),
        usage=plan_usage(tenant),
    )


def recent_audit_events(limit: int = 10) -> list[Any]:
    from compliance.models import AuditEvent

    return list(AuditEvent.objects.order_by("-id")[:limit])


# --- Operator console (public schema) -----------------------------------------------------


def tenants_by_status() -> dict[str, int]:
    from tenants.models import Tenant

    counts = {status: 0 for status in Tenant.Status.values}
    rows = Tenant.objects.exclude(schema_name="public").values("status").annotate(n=Count("id"))
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def provisioning_counts() -> dict[str, int]:
    from tenants.models import Tenant

    rows = Tenant.objects.exclude(schema_name="public").values("provisioning").annotate(n=Count("id"))
    return {row["provisioning"]: row["n"] for row in rows}


@dataclass
class FleetSummary:
    online: int = 0
    offline: int = 0
    failed_deploys_24h: int = 0
    failed_tenants: list[str] = field(default_factory=list)
    tenants_read: int = 0
    tenants_skipped: int = 0


FLEET_MAX_TENANTS = 2000


def fleet_summary() -> FleetSummary:
    """Agents and failed deploys across every serving tenant, one schema at a time.

    Bounded by FLEET_MAX_TENANTS so the console stays responsive; beyond that the summary
    says how many were skipped (a per-tenant counter table is the way past that bound).
    """
    from tenants.selectors import serving_tenants

    summary = FleetSummary()
    agent, run = _model("deployments.Agent"), _model("deployments.DeployRun")
    if agent is None and run is None:
        return summary
    since = timezone.now() - timedelta(hours=24)
    schemas = list(serving_tenants().values_list("schema_name", "slug")[: FLEET_MAX_TENANTS + 1])
    summary.tenants_skipped = max(0, len(schemas) - FLEET_MAX_TENANTS)
    for schema_name, slug in schemas[:FLEET_MAX_TENANTS]:
        with schema_context(schema_name):
            counts = agent_counts() or {}
            failed = _count("deployments.DeployRun", status="failed", created_at__gte=since) or 0
        summary.online += counts.get("online", 0)
        summary.offline += counts.get("offline", 0)
        summary.failed_deploys_24h += failed
        if failed:
            summary.failed_tenants.append(slug)
        summary.tenants_read += 1
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return summary


def webhook_backlog() -> int | None:
    event = _model("billing.WebhookEvent")
    if event is None:
        return None
    return _safe(lambda: event.objects.filter(status__in=["pending", "failed"]).count())


def celery_queue_depth() -> int | None:
    """Messages waiting in the default Celery queue (Redis LLEN), None if Redis is unreachable."""
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        return int(client.llen(settings.CELERY_TASK_DEFAULT_QUEUE))
    except (redis.RedisError, ValueError, OSError):
        return None


@dataclass
class ChainState:
    ok: bool | None  # None: no verifier available yet
    detail: str


CHAIN_CACHE_SECONDS = 60


def audit_chain_state() -> ChainState:
    """The operator chain's verification (from its last signed checkpoint), cached a minute."""
    try:
        from compliance.verification import audit_chain_verify
    except ImportError:
        return ChainState(None, "The audit chain verifier is not installed yet.")
    cached = cache.get("console:chain-state")
    if cached is not None:
        return ChainState(*cached)
    try:
        with schema_context("public"), transaction.atomic():
            # chain_first=False: a dashboard read must not write; pending rows are reported.
            result = audit_chain_verify(from_last_checkpoint=True, chain_first=False)
    except Exception as exc:  # a verifier failure is a finding, not a crash of the console
        return ChainState(False, f"{type(exc).__name__}: {exc}"[:200])
    state = ChainState(bool(result.ok), result.summary()[:300])
    cache.set("console:chain-state", (state.ok, state.detail), CHAIN_CACHE_SECONDS)
    return state


def recent_operator_actions(tenant: Any, limit: int = 15) -> list[Any]:
    """Operator-chain events about one tenant (public schema)."""
    from compliance.models import AuditEvent

    with schema_context("public"):
        return list(
            AuditEvent.objects.filter(target_type="tenants.tenant", target_id=str(tenant.pk)).order_by("-id")[
                :limit
            ]
        )


def tenant_usage(tenant: Any) -> list[UsageRow]:
    """Plan usage of another tenant, read in its own schema (operator detail page)."""
    if not tenant.is_ready or tenant.schema_name == "public":
        return []
    with schema_context(tenant.schema_name):
        return plan_usage(tenant)


def tenant_subscription(tenant: Any) -> Any:
    subscription = _model("billing.Subscription")
    if subscription is None:
        return None
    return _safe(lambda: subscription.objects.filter(tenant=tenant).select_related("plan").first())


# --- Support access (operator looks at one tenant, read-only) ------------------------------

# Only these columns of another app's model are ever shown in the support view. An
# allow-list, so a new column holding something sensitive never appears by accident.
SUPPORT_SAFE_COLUMNS = (
    "name",
    "secret_type",
    "environment",
    "rotation_policy",
    "deleted_at",
    "key",
    "path",
    "description",
    "status",
    "version",
    "current_version",
    "is_production",
    "rotation_days",
    "rotated_at",
    "rotation_due_at",
    "next_rotation_at",
    "expires_at",
    "created_at",
    "updated_at",
)


@dataclass
class MetadataTable:
    columns: list[str]
    rows: list[dict[str, Any]]


def metadata_table(label: str, limit: int = 50) -> MetadataTable | None:
    model = _model(label)
    if model is None:
        return None
    columns = [
        f.name for f in model._meta.concrete_fields if f.name in SUPPORT_SAFE_COLUMNS and not f.is_relation
    ]

    def read() -> MetadataTable:
        return MetadataTable(columns, list(model.objects.order_by("-pk").values(*columns)[:limit]))

    return _safe(read)


def recent_deploy_runs(limit: int = 20) -> list[dict[str, Any]] | None:
    run = _model("deployments.DeployRun")
    if run is None:
        return None
    return _safe(
        lambda: list(
            run.objects.order_by("-created_at", "-id").values(
                "id", "environment__name", "release__version", "kind", "status", "created_at"
            )[:limit]
        )
    )


@dataclass
class SupportSnapshot:
    members: list[dict[str, Any]]
    secrets: MetadataTable | None
    deploys: list[dict[str, Any]] | None
    audit: list[Any]
    usage: list[UsageRow]


def support_snapshot(tenant: Any) -> SupportSnapshot:
    from portal.accounts.models import User

    with schema_context(tenant.schema_name):
        return SupportSnapshot(
            members=[
                dict(row)
                for row in User.objects.order_by("email").values(
                    "email", "name", "role", "is_active", "last_login"
                )[:100]
            ],
            secrets=metadata_table("vault.Secret"),
            deploys=recent_deploy_runs(),
            audit=recent_audit_events(30),
            usage=plan_usage(tenant),
        )

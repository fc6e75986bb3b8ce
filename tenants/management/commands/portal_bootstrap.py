"""Idempotent first-run setup: public tenant, default plans, pool, demo tenant, operator."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context, tenant_context

from portal import editions
from tenants import pool as pool_module
from tenants import services
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create the public tenant, default plans, the schema pool, and (optionally) a demo."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--demo", action="store_true", help="Create tenant 'acme' and an operator.")
        parser.add_argument("--pool", type=int, default=None, help="Spare schemas to build now.")

    def handle(self, *args: Any, demo: bool = False, pool: int | None = None, **options: Any) -> None:
        services.public_tenant_ensure()
        services.plans_ensure_defaults()
        result = pool_module.pool_refill(pool)
        self.stdout.write(f"schema pool: {result['level']} ready ({result['built']} built)")
        if not demo:
            return
        base = f"{settings.PORTAL_SCHEME}://{{host}}:{settings.PORTAL_PORT}"
        lines = []
        if not Tenant.objects.filter(slug="acme").exists():
            password = secrets.token_urlsafe(12)
            services.tenant_create(
                slug="acme",
                name="Acme Corp",
                admin_email="admin@acme.test",
                admin_password=password,
                allow_inline_migrate=True,
            )
            lines.append(f"  tenant owner : admin@acme.test / {password}")
        from portal.accounts.models import User

        with schema_context("public"):
            if not User.objects.filter(email="oscar@tenantry.test").exists():
                password = secrets.token_urlsafe(12)
                User.objects.create_superuser("oscar@tenantry.test", password)
                lines.append(f"  operator     : oscar@tenantry.test / {password}")
        if editions.enabled("local_agent"):
            self._local_agent_prepare(Tenant.objects.get(slug="acme"))
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Tenantry is ready:"))
        self.stdout.write(f"  landing      : {base.format(host=settings.PORTAL_DOMAIN)}/")
        self.stdout.write(f"  acme portal  : {base.format(host='acme.' + settings.PORTAL_DOMAIN)}/")
        self.stdout.write(f"  admin        : {base.format(host=settings.PORTAL_DOMAIN)}/admin/")
        if lines:
            self.stdout.write("One-time credentials (shown only now; change them after signing in):")
            for line in lines:
                self.stdout.write(line)
        else:
            self.stdout.write("Demo accounts already exist; their credentials were printed on the first run.")

    def _local_agent_prepare(self, tenant: Tenant) -> None:
        """Community edition: an environment `local` and a one-time token for the built-in agent."""
        from deployments import services as deploy_services
        from deployments.models import Environment
        from portal.accounts.models import User
        from portal.local_agent import ENV_FILE, STATE_DIR

        if (STATE_DIR / "identity.json").exists():
            return  # already enrolled; it reconnects with its own key
        with tenant_context(tenant):
            owner = User.objects.filter(role="owner", is_active=True).order_by("id").first()
            environment = Environment.objects.filter(name="local").first()
            if environment is None:
                environment = deploy_services.environment_create(
                    name="local", actor=owner, description="This machine (built-in local agent)"
                )
            _, raw = deploy_services.enrollment_token_create(environment=environment, actor=owner)
        ENV_FILE.parent.mkdir(parents=True, exist_ok=True)
        url = f"{settings.PORTAL_SCHEME}://{tenant.get_primary_domain().domain}:{settings.PORTAL_PORT}"
        ENV_FILE.write_text(f"URL={url}\nTOKEN={raw}\n")
        ENV_FILE.chmod(0o600)
        self.stdout.write("local agent: enrolment token written to var/local-agent.env")

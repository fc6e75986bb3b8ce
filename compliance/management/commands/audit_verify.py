"""`manage.py audit_verify [--tenant SLUG|SCHEMA] [--all] [--from-last-checkpoint] [--json]`.

Verifies the audit chain of one tenant (or the public operator chain when no tenant is
given, or every tenant with --all) and names the first bad seq. Exit status 1 on failure.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from compliance.verification import audit_chain_verify


class Command(BaseCommand):
    help = "Verify audit hash chains and report the first bad seq."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="tenant slug or schema name (default: the public chain)")
        parser.add_argument("--all", action="store_true", help="every tenant and the public chain")
        parser.add_argument("--from-last-checkpoint", action="store_true", help="only rows after it")
        parser.add_argument("--json", action="store_true", help="one JSON object per chain")

    def handle(self, *args: Any, **options: Any) -> None:
        from tenants.models import Tenant

        if options["all"]:
            schemas = [
                "public",
                *Tenant.objects.exclude(schema_name="public").values_list("schema_name", flat=True),
            ]
        elif options["tenant"]:
            tenant = (
                Tenant.objects.filter(slug=options["tenant"]).first()
                or Tenant.objects.filter(schema_name=options["tenant"]).first()
            )
            if tenant is None:
                raise CommandError(f"unknown tenant {options['tenant']!r}")
            schemas = [tenant.schema_name]
        else:
            schemas = ["public"]
        failed = False
        for schema in schemas:
            with schema_context(schema):
                result = audit_chain_verify(from_last_checkpoint=options["from_last_checkpoint"])
            failed = failed or not result.ok
            self.stdout.write(json.dumps(result.as_dict()) if options["json"] else result.summary())
        if failed:
            raise CommandError("audit chain verification failed")

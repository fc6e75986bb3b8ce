"""`manage.py audit_checkpoint [--tenant SLUG]`: sign the chain head now (on demand)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from compliance import services


class Command(BaseCommand):
    help = "Sign the head of an audit chain (Ed25519) and store the checkpoint write-once."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tenant", help="tenant slug or schema (default: the public chain)")

    def handle(self, *args: Any, **options: Any) -> None:
        from tenants.models import Tenant

        schema = "public"
        if options["tenant"]:
            tenant = (
                Tenant.objects.filter(slug=options["tenant"]).first()
                or Tenant.objects.filter(schema_name=options["tenant"]).first()
            )
            if tenant is None:
                raise CommandError(f"unknown tenant {options['tenant']!r}")
            schema = tenant.schema_name
        with schema_context(schema):
            checkpoint = services.checkpoint_sign(actor=None)
        self.stdout.write(
            f"signed {schema} at seq {checkpoint.seq} (chain {checkpoint.chain}) -> {checkpoint.storage_name}"
        )

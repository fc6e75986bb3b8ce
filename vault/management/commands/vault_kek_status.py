"""`manage.py vault_kek_status`: which KEK wraps, and which KEK each tenant's data keys use."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from vault import keyring, selectors


class Command(BaseCommand):
    help = "Show the key-encryption key configuration and the data keys per tenant (never key material)."

    def handle(self, *args: Any, **options: Any) -> None:
        status = keyring.status()
        self.stdout.write(f"source: {status['source']}\nprimary: {status['primary']}")
        self.stdout.write("unwrap with: " + ", ".join(status["unwrappers"]))
        stale = 0
        for schema in keyring.tenant_schemas():
            keys = selectors.tenant_vault_summary(schema).get("data_keys", {})
            stale += sum(n for kek, n in keys.items() if kek != status["primary"])
            self.stdout.write(
                f"{schema}: " + (", ".join(f"{n} × {k}" for k, n in keys.items()) or "no data key")
            )
        self.stdout.write(f"data keys not under the primary KEK: {stale}")

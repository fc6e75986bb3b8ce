"""`manage.py vault_rewrap [--schema t_acme ...]`: KEK rotation, online."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from vault import keyring, services


class Command(BaseCommand):
    help = "Re-wrap every tenant's data keys under the primary key-encryption key (reads keep working)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--schema", action="append", dest="schemas", help="Only this tenant schema (repeatable)"
        )

    def handle(self, *args: Any, schemas: list[str] | None = None, **options: Any) -> None:
        self.stdout.write(f"primary KEK: {keyring.status()['primary']}")
        moved = services.kek_rewrap(actor=None, schemas=schemas)
        for schema, count in moved.items():
            self.stdout.write(f"{schema}: {count} data key(s) re-wrapped")
        self.stdout.write(self.style.SUCCESS(f"done: {sum(moved.values())} in {len(moved)} tenant(s)"))

"""`manage.py audit_pubkey`: print the checkpoint public key (base64) for offline verification."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from compliance.checkpoints import public_key_b64


class Command(BaseCommand):
    help = "Print the Ed25519 public key that verifies audit checkpoints."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(public_key_b64())

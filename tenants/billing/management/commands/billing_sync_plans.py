"""`manage.py billing_sync_plans`: create or update Stripe Products and Prices for the plans."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants.billing import catalog, stripe_client


class Command(BaseCommand):
    help = "Create or update the Stripe Products and Prices of every paid plan."

    def handle(self, *args: Any, **options: Any) -> None:
        if not stripe_client.billing_enabled():
            raise CommandError("Billing is off: set STRIPE_SECRET_KEY (saas edition) first.")
        try:
            result = catalog.plans_sync()
        except stripe_client.StripeUnavailable as exc:
            raise CommandError(str(exc)) from exc
        for slug, changes in result.items():
            self.stdout.write(f"{slug}: " + (", ".join(changes) if changes else "up to date"))

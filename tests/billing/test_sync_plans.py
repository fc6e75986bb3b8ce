"""The test Stripe itself: plans sync through the real command into localstripe."""

from __future__ import annotations

from django.core.management import call_command

from tenants.models import Plan


def test_billing_sync_plans_creates_products_and_prices_then_is_idempotent(stripe_on, db, capsys):
    call_command("billing_sync_plans")
    team = Plan.objects.get(slug="team")
    assert team.stripe_product_id.startswith("prod_")
    assert all((team.stripe_price_monthly_id, team.stripe_price_yearly_id, team.stripe_price_seat_id))
    assert not Plan.objects.get(slug="free").stripe_product_id
    first = capsys.readouterr().out
    assert "team:" in first
    call_command("billing_sync_plans")
    assert "team: up to date" in capsys.readouterr().out

"""Editions are gated in one place (portal.editions)."""

from __future__ import annotations

import pytest

from portal import editions


@pytest.fixture
def community(settings):
    settings.PORTAL_EDITION = "community"
    settings.BILLING_ENABLED = False


def test_saas_offers_signup_and_central_login(anon_client):
    client = anon_client()
    assert client.get("/signup/").status_code == 200
    assert client.get("/login/").status_code == 200
    assert editions.enabled("signup")


def test_community_has_no_signup_or_billing(community, anon_client):
    assert anon_client().get("/signup/").status_code == 404
    assert not editions.enabled("billing")
    assert editions.enabled("local_agent")


def test_community_public_domain_points_at_the_single_tenant(community, anon_client):
    response = anon_client().get("/")
    assert response.status_code == 302
    # The suite's first tenant (Acme) stands in for the community edition's only tenant.
    assert response["Location"] == "http://acme.localhost:8000/accounts/login/"
    assert anon_client().get("/login/")["Location"] == response["Location"]


def test_billing_is_off_without_a_stripe_key(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.BILLING_ENABLED = False
    assert "billing" not in editions.features()

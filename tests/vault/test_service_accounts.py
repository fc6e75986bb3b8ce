"""Service accounts fetch values over HTTP with a `vault`-scoped API token (identity app)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django_tenants.utils import tenant_context
from rest_framework.settings import api_settings

from vault import services

TOKEN_AUTH = "tenants.members.api.authentication.ApiTokenAuthentication"

pytestmark = pytest.mark.skipif(
    not any(
        cls.__module__ + "." + cls.__name__ == TOKEN_AUTH
        for cls in api_settings.DEFAULT_AUTHENTICATION_CLASSES
    ),
    reason="API token authentication is not enabled in REST_FRAMEWORK settings",
)


@pytest.fixture
def deployer(acme, alice, db):
    from tenants.members import tokens

    with tenant_context(acme):
        account = tokens.service_account_create(actor=alice.user(), name="ci-deployer", role="operator")
        _, vault_token = tokens.token_create(
            owner=account.user, actor=alice.user(), name="v", scopes=["vault"]
        )
        _, read_token = tokens.token_create(owner=account.user, actor=alice.user(), name="r", scopes=["read"])
        services.secret_create(
            actor=alice.user(),
            name="prod/deploy/key",
            value="deploy-key-value",
            environment="production",
            allowed_service_accounts=["ci-deployer"],
        )
        services.secret_create(actor=alice.user(), name="prod/other", value="other", environment="production")
    return {"vault": vault_token, "read": read_token}


def _fetch(alice, token: str, name: str):
    return Client(HTTP_HOST=alice.host).post(
        "/api/v1/vault/fetch/",
        json.dumps({"name": name}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_listed_service_account_with_vault_scope_fetches_the_value(deployer, alice):
    response = _fetch(alice, deployer["vault"], "prod/deploy/key")
    assert response.status_code == 200, response.content
    assert response.json()["value"] == "deploy-key-value"


def test_a_token_without_the_vault_scope_is_refused(deployer, alice):
    response = _fetch(alice, deployer["read"], "prod/deploy/key")
    assert response.status_code == 403
    assert b"deploy-key-value" not in response.content


def test_an_unlisted_secret_is_refused(deployer, alice):
    assert _fetch(alice, deployer["vault"], "prod/other").status_code == 403


def test_a_members_token_cannot_skip_step_up(alice, acme, db):
    from tenants.members import tokens

    with tenant_context(acme):
        _, token = tokens.token_create(owner=alice.user(), actor=alice.user(), name="mine", scopes=["vault"])
        services.secret_create(actor=alice.user(), name="app/key", value="v")
    response = Client(HTTP_HOST=alice.host).post(
        "/api/v1/vault/fetch/",
        json.dumps({"name": "app/key", "reason": "script"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "step_up_required"

"""Vault fixtures: API helpers on top of the shared personas."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django_tenants.utils import tenant_context

API = "/api/v1/vault"


class Api:
    """A persona's JSON client for the vault API."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"{API}{path}", params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"{API}{path}", json.dumps(body or {}), content_type="application/json")

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.patch(f"{API}{path}", json.dumps(body), content_type="application/json")

    def delete(self, path: str) -> Any:
        return self.client.delete(f"{API}{path}")

    def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("value", "s3cr3t-value")
        response = self.post("/secrets/", body)
        assert response.status_code == 201, response.content
        return response.json()


@pytest.fixture
def api_for(client_for: Any) -> Any:
    def make(persona: Any, *, otp: bool = True) -> Api:
        return Api(client_for(persona, otp=otp))

    return make


@pytest.fixture
def in_acme(acme: Any, db: Any) -> Any:
    with tenant_context(acme):
        yield acme

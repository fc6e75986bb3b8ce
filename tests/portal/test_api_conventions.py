"""API conventions hold for every endpoint any app adds (read from the OpenAPI schema)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import path
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from portal.api import PROTECTED_FIELDS


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator(urlconf="portal.urls_tenant").get_schema(request=None, public=True)


def test_no_request_body_can_set_a_protected_field(schema):
    offenders = []
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Request"):
            continue  # COMPONENT_SPLIT_REQUEST: request bodies are the *Request components
        for field in PROTECTED_FIELDS & set(component.get("properties", {})):
            if not component["properties"][field].get("readOnly"):
                offenders.append(f"{name}.{field}")
    assert offenders == []


# Lists that are bounded by construction may stay unpaginated; each says why.
BOUNDED_LISTS = {
    "/api/v1/vault/secrets/{id}/versions/": "at most VAULT_MAX_VERSIONS rows",
}


def test_every_list_endpoint_is_cursor_paginated(schema):
    for route, operations in schema["paths"].items():
        if route in BOUNDED_LISTS:
            continue
        get = operations.get("get", {})
        params = {p["name"] for p in get.get("parameters", [])}
        if get.get("operationId", "").endswith("_list") and "page_size" not in params:
            body = get.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            assert "Paginated" in ref or body.get("schema", {}).get("type") != "array", route


class _Input(serializers.Serializer):
    name = serializers.CharField(max_length=5)
    count = serializers.IntegerField(min_value=1)


class _Probe(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request):
        _Input(data=request.data).is_valid(raise_exception=True)

    def get(self, request):
        if request.GET.get("kind") == "denied":
            raise PermissionDenied("Your role does not allow this action.")
        raise NotFound()


urlpatterns = [path("probe/", _Probe.as_view())]


@pytest.mark.parametrize(
    ("method", "data", "status", "code"),
    [
        ("post", {"name": "far too long", "count": 0}, 400, "validation_error"),
        ("get", {"kind": "denied"}, 403, "permission_denied"),
        ("get", {}, 404, "not_found"),
    ],
)
def test_errors_share_one_body(method, data, status, code):
    factory = APIRequestFactory()
    request = getattr(factory, method)("/probe/", data, format="json" if method == "post" else None)
    response = _Probe.as_view()(request)
    assert response.status_code == status
    error = response.data["error"]
    assert error["code"] == code
    assert error["message"]
    if status == 400:
        assert set(error["fields"]) == {"name", "count"}


def test_models_and_migrations_agree(db):
    """A model change without its migration fails here, not in production."""
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)


def test_nul_bytes_in_a_body_or_query_are_a_400_not_a_500(client_for, alice):
    client = client_for(alice)
    body = client.post(
        "/api/v1/deployments/tokens/", {"environment": "prod\x00uction"}, content_type="application/json"
    )
    assert body.status_code == 400
    assert body.json()["error"]["code"] == "parse_error"
    query = client.get("/api/v1/vault/secrets/?environment=prod%00uction")
    assert query.status_code in (200, 400)

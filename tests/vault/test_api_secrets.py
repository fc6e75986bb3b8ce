"""The secrets API: create, read metadata, list with filters, check-and-set, lifecycle."""

from __future__ import annotations

from django.test import override_settings

from tests.vault.conftest import API


def test_alice_creates_a_secret_and_metadata_never_has_the_value(api_for, alice):
    api = api_for(alice)
    created = api.create(
        name="prod/db/password", value="hunter2-but-longer", environment="production", tags=["db"]
    )
    assert created["version"] == 1
    assert "value" not in created
    detail = api.get(f"/secrets/{created['id']}/")
    assert detail.status_code == 200
    assert "hunter2" not in detail.content.decode()
    assert detail.json()["owner"] == "alice@acme.test"
    listing = api.get("/secrets/")
    assert "hunter2" not in listing.content.decode()
    assert [s["name"] for s in listing.json()["results"]] == ["prod/db/password"]


def test_list_filters_by_scope_type_tag_and_prefix(api_for, alice):
    api = api_for(alice)
    api.create(name="prod/db/password", environment="production", type="password", tags=["db"])
    api.create(name="prod/stripe/key", environment="production", type="api_key", tags=["billing"])
    api.create(name="staging/db/password", environment="staging", type="password", tags=["db"])

    def names(**params):
        response = api.get("/secrets/", **params)
        assert response.status_code == 200, response.content
        return sorted(s["name"] for s in response.json()["results"])

    assert names(environment="production") == ["prod/db/password", "prod/stripe/key"]
    assert names(type="api_key") == ["prod/stripe/key"]
    assert names(tag="db") == ["prod/db/password", "staging/db/password"]
    assert names(prefix="prod/db/") == ["prod/db/password"]


def test_bad_input_gets_a_clear_400(api_for, alice):
    api = api_for(alice)
    api.create(name="app/token")
    cases = {
        "value": {"name": "app/empty", "value": ""},
        "name": {"name": "Not A Path//", "value": "x"},
    }
    for field, body in cases.items():
        response = api.post("/secrets/", body)
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"]
    too_big = api.post("/secrets/", {"name": "app/big", "value": "x" * (64 * 1024 + 1)})
    assert too_big.status_code == 400
    assert "64 KiB" in str(too_big.json()["error"]["fields"]["value"])
    duplicate = api.post("/secrets/", {"name": "app/token", "value": "other"})
    assert duplicate.status_code == 400
    assert "already exists" in str(duplicate.json()["error"]["fields"]["name"])
    bad_role = api.post("/secrets/", {"name": "app/r", "value": "x", "allowed_roles": ["wizard"]})
    assert bad_role.status_code == 400
    assert api.get("/secrets/").json()["results"][0]["name"] == "app/token"  # nothing half-written


def test_exactly_64_kib_is_accepted(api_for, alice):
    api_for(alice).create(name="app/cert", value="x" * (64 * 1024), type="certificate")


def test_update_is_check_and_set(api_for, alice):
    api = api_for(alice)
    secret = api.create(name="app/key")
    first = api.patch(
        f"/secrets/{secret['id']}/", {"version": 1, "value": "new-value", "description": "rotated"}
    )
    assert first.status_code == 200, first.content
    assert first.json()["version"] == 2
    stale = api.patch(f"/secrets/{secret['id']}/", {"version": 1, "value": "lost-update"})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "version_conflict"
    assert api.get(f"/secrets/{secret['id']}/").json()["version"] == 2
    missing = api.patch(f"/secrets/{secret['id']}/", {"value": "no version"})
    assert missing.status_code == 400


@override_settings(VAULT_MAX_VERSIONS=3)
def test_only_the_newest_versions_are_kept(api_for, alice):
    api = api_for(alice)
    secret = api.create(name="app/rolling")
    for version in range(1, 6):
        api.post(f"/secrets/{secret['id']}/rotate/", {"value": f"value-{version}", "reason": "test"})
    versions = api.get(f"/secrets/{secret['id']}/versions/").json()
    assert [v["version"] for v in versions] == [6, 5, 4]
    assert all("value" not in v for v in versions)


def test_soft_delete_restore_and_destroy(api_for, alice):
    api = api_for(alice)
    secret = api.create(name="app/old")
    url = f"/secrets/{secret['id']}/"
    assert api.post(f"{url}destroy/").status_code == 409  # delete first
    assert api.delete(url).status_code == 204
    assert api.get("/secrets/").json()["results"] == []
    assert [s["name"] for s in api.get("/secrets/", deleted="true").json()["results"]] == ["app/old"]
    assert api.post(f"{url}reveal/", {"reason": "x"}).status_code == 409
    assert api.post(f"{url}restore/").status_code == 200
    assert api.get("/secrets/").json()["results"][0]["name"] == "app/old"
    assert api.delete(url).status_code == 204
    assert api.post(f"{url}destroy/").status_code == 204
    assert api.get(url).status_code == 404
    assert api.post("/secrets/", {"name": "app/old", "value": "again"}).status_code == 201


def test_bob_cannot_destroy_or_write_production(api_for, alice, bob):
    secret = api_for(alice).create(name="prod/api/key", environment="production")
    bob_api = api_for(bob)
    assert bob_api.get(f"/secrets/{secret['id']}/").status_code == 200
    assert bob_api.patch(f"/secrets/{secret['id']}/", {"version": 1, "value": "x"}).status_code == 403
    assert (
        bob_api.post(
            "/secrets/", {"name": "prod/other", "value": "x", "environment": "production"}
        ).status_code
        == 403
    )
    assert (
        bob_api.post(
            "/secrets/", {"name": "dev/other", "value": "x", "environment": "development"}
        ).status_code
        == 201
    )
    response = bob_api.delete(f"/secrets/{secret['id']}/")
    assert response.status_code == 403


def test_stats_and_rotation_needed(api_for, alice):
    api = api_for(alice)
    api.create(name="app/a", type="password", rotation_policy="weekly")
    api.create(name="app/b", type="api_key")
    stats = api.get("/stats/").json()
    assert stats["total"] == 2
    assert stats["by_type"] == {"password": 1, "api_key": 1}
    assert api.get("/rotation-needed/").json()["results"] == []


def test_everything_is_in_the_openapi_schema(alice, client_for):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = {p for p in schema["paths"] if p.startswith(f"{API}/")}
    for expected in (
        "/secrets/",
        "/secrets/{id}/",
        "/secrets/{id}/reveal/",
        "/secrets/{id}/rotate/",
        "/secrets/{id}/versions/",
        "/secrets/{id}/restore/",
        "/secrets/{id}/destroy/",
        "/stats/",
        "/rotation-needed/",
        "/fetch/",
    ):
        assert f"{API}{expected}" in paths, expected


def test_a_request_body_past_the_upload_limit_is_a_400(api_for, alice):
    response = api_for(alice).post("/secrets/", {"name": "app/huge", "value": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 400


def test_unknown_filters_and_ids_are_4xx(api_for, alice):
    api = api_for(alice)
    assert api.get("/secrets/", type="nonsense").status_code == 400
    assert api.get("/secrets/999999/").status_code == 404
    assert api.post("/secrets/999999/reveal/", {"reason": "x"}).status_code == 404
    assert api.patch("/secrets/999999/", {"version": 1}).status_code == 404

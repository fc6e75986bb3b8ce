"""Environment names follow the vault's environment slug; variable values are shown only to roles
that manage environments (API and pages alike)."""

from __future__ import annotations

import pytest

ENVIRONMENTS = "/api/v1/deployments/environments/"


@pytest.mark.parametrize("name", ["Prod", "prod_eu", "-prod", "p" * 33, "prod eu"])
def test_a_name_no_vault_secret_could_belong_to_is_refused(client_for, alice, name):
    api = client_for(alice)
    response = api.post(ENVIRONMENTS, {"name": name}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "name" in response.json()["error"]["fields"]
    assert name not in {env["name"] for env in api.get(ENVIRONMENTS).json()["results"]}


def test_variable_values_are_shown_only_to_environment_managers(client_for, alice, bob, mallory, unique):
    admin = client_for(alice)
    env = admin.post(ENVIRONMENTS, {"name": f"vals-{unique}"}, content_type="application/json").json()
    admin.post(
        f"{ENVIRONMENTS}{env['id']}/variables/",
        {"name": "DB_PASSWORD", "value": "literal-not-a-reference"},
        content_type="application/json",
    )

    as_alice = admin.get(f"{ENVIRONMENTS}{env['id']}/").json()
    assert as_alice["variables"] == [{"name": "DB_PASSWORD", "value": "literal-not-a-reference"}]

    as_bob = client_for(bob).get(f"{ENVIRONMENTS}{env['id']}/")
    assert as_bob.status_code == 200
    assert as_bob.json()["variables"] == [{"name": "DB_PASSWORD", "value": None}]
    assert b"literal-not-a-reference" not in client_for(bob).get(ENVIRONMENTS).content

    # Mallory (owner of Globex) cannot even find Acme's environment.
    assert client_for(mallory).get(f"{ENVIRONMENTS}{env['id']}/").status_code == 404
    assert b"literal-not-a-reference" not in client_for(mallory).get(ENVIRONMENTS).content

"""Mallory (Globex) attacks Acme's policies, reports, DSRs and AI register; every attempt fails."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from compliance import policies
from compliance.governance import engine, services
from compliance.governance.engine import _pending

API = "/api/v1/compliance"


@pytest.fixture(autouse=True)
def _cold_policy_cache(platform: Any) -> Iterator[None]:
    def clear() -> None:
        _pending().clear()
        engine.cache.clear()

    clear()
    yield
    clear()


@pytest.fixture
def acme_records(acme: Any, alice: Any, bob: Any, db: Any) -> dict[str, Any]:
    with tenant_context(acme):
        actor = alice.user()
        policy = services.policy_create(
            actor=actor,
            name="Acme secret rule",
            applies_to=["deploy.run"],
            conditions={"field": "environment", "op": "eq", "value": "acme-prod"},
        )
        policies.evaluate("deploy.run", {"environment": "acme-prod"})
        dsr = services.dsr_create(actor=actor, kind="export", subject_email=bob.email)
        services.dsr_fulfil(dsr=dsr, actor=actor)
        system = services.ai_system_save(actor=actor, name="Acme credit AI", purpose="acme-internal")
        return {"policy": policy, "dsr": dsr, "system": system}


ACME_PAGES = (
    "/compliance/overview/",
    "/compliance/reports/soc2/",
    "/compliance/reports/soc2/pdf/",
    "/compliance/policies/",
    "/compliance/violations/",
    "/compliance/privacy/requests/",
    "/compliance/privacy/consent/",
    "/compliance/privacy/dpia/",
    "/compliance/ai/",
    "/compliance/ai/reviews/",
)


@pytest.mark.parametrize("path", ACME_PAGES)
def test_mallorys_session_means_nothing_on_acmes_pages(client_for, mallory, alice, acme_records, path):
    response = client_for(mallory).get(path, HTTP_HOST=alice.host)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(
    "path",
    [
        "/policies/",
        "/violations/",
        "/dsr/",
        "/consent/",
        "/dpia/",
        "/ai-systems/",
        "/ai-reviews/",
        "/reports/soc2/",
        "/dashboard/",
        "/frameworks/",
    ],
)
def test_mallorys_session_cannot_use_acmes_api(client_for, mallory, alice, acme_records, path):
    response = client_for(mallory).get(f"{API}{path}", HTTP_HOST=alice.host)
    assert response.status_code in (401, 403)
    assert b"Acme" not in response.content


def test_mallory_cannot_write_to_acmes_api(client_for, mallory, alice, acme_records):
    client = client_for(mallory)
    pk = acme_records["policy"].pk
    attempts = [
        client.post(
            f"{API}/policies/install-template/", {"template": "release_must_be_signed"}, HTTP_HOST=alice.host
        ),
        client.delete(f"{API}/policies/{pk}/", HTTP_HOST=alice.host),
        client.post(f"{API}/dsr/{acme_records['dsr'].pk}/fulfil/", HTTP_HOST=alice.host),
        client.post(f"{API}/dsr/", {"kind": "erase", "subject_email": "bob@acme.test"}, HTTP_HOST=alice.host),
    ]
    assert all(r.status_code in (401, 403) for r in attempts)


def test_acmes_ids_on_globex_show_globex_data_only(client_for, mallory, acme_records):
    client = client_for(mallory)
    pages = [
        f"/compliance/policies/{acme_records['policy'].pk}/",
        f"/compliance/privacy/requests/{acme_records['dsr'].pk}/",
        f"/compliance/privacy/requests/{acme_records['dsr'].pk}/download/",
        f"/compliance/ai/{acme_records['system'].pk}/",
        "/compliance/policies/",
        "/compliance/violations/",
        "/compliance/privacy/requests/",
        "/compliance/ai/",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code in (200, 404), path
        body = b"".join(response.streaming_content) if response.streaming else response.content
        for secret in (b"Acme secret rule", b"bob@acme.test", b"Acme credit AI", b"acme-prod"):
            assert secret not in body, (path, secret)


def test_acmes_ids_through_globexs_api_are_not_found(client_for, mallory, acme_records):
    client = client_for(mallory)
    for path in (
        f"/policies/{acme_records['policy'].pk}/",
        f"/dsr/{acme_records['dsr'].pk}/",
        f"/ai-systems/{acme_records['system'].pk}/",
    ):
        response = client.get(f"{API}{path}")
        assert response.status_code == 404, path
    listing = client.get(f"{API}/violations/").json()["results"]
    assert all(v["policy_name"] != "Acme secret rule" for v in listing)
    assert client.post(f"{API}/dsr/{acme_records['dsr'].pk}/fulfil/").status_code == 404


def test_acmes_policies_never_apply_in_globex(acme_records, globex, db):
    with tenant_context(globex):
        assert not policies.evaluate("deploy.run", {"environment": "acme-prod"}).matched


def test_a_dsr_in_globex_cannot_name_an_acme_member(mallory, globex, db):
    from django.core.exceptions import ValidationError

    with tenant_context(globex), pytest.raises(ValidationError, match="is known to this workspace"):
        services.dsr_create(actor=mallory.user(), kind="export", subject_email="bob@acme.test")


def test_mallorys_blocking_policy_never_reaches_acme_through_the_process_local_cache(
    acme, globex, mallory, db
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    unsigned = {"release_signed": False}
    with tenant_context(globex):
        services.policy_create(
            actor=mallory.user(),
            name="Globex: signed releases only",
            applies_to=["deploy.run"],
            conditions={"field": "release_signed", "op": "eq", "value": False},
        )
        setattr(connection, engine._DIRTY_FLAG, False)  # as in a later request, once committed
        assert policies.evaluate("deploy.run", unsigned).blocked
    with tenant_context(acme):
        assert not policies.evaluate("deploy.run", unsigned).blocked
    assert "t_acme" in engine.cache
    assert "t_globex" in engine.cache  # one entry per schema, side by side
    for tenant, blocked in ((acme, False), (globex, True), (acme, False)):
        with tenant_context(tenant), CaptureQueriesContext(connection) as queries:
            assert policies.evaluate("deploy.run", unsigned).blocked is blocked
        assert not [q for q in queries if q["sql"].startswith("SELECT") and 'governance_policy"' in q["sql"]]

"""The audit API and pages: filters, keyset pagination, roles, retention, clear errors."""

from __future__ import annotations

from typing import Any

from compliance import audit, selectors
from compliance.chain import chain_pending

API = "/api/v1/compliance/audit"


def _seed(unique: str, count: int = 5) -> None:
    for n in range(count):
        audit.record(action=f"test.api.{'even' if n % 2 == 0 else 'odd'}", payload={"n": n, "run": unique})
    chain_pending()


def test_alice_lists_and_filters_events(in_acme: Any, client_for: Any, alice: Any, unique: str) -> None:
    _seed(unique)
    client = client_for(alice)
    body = client.get(f"{API}/events/", {"q": unique, "action": "test.api.even"}).json()
    assert [e["payload"]["n"] for e in body["results"]] == [4, 2, 0]
    assert all(e["hash"] for e in body["results"])


def test_keyset_pagination_walks_every_event_once(
    in_acme: Any, client_for: Any, alice: Any, unique: str
) -> None:
    _seed(unique, 7)
    client = client_for(alice)
    seen: list[int] = []
    params: dict[str, Any] = {"q": unique, "page_size": 3}
    while True:
        body = client.get(f"{API}/events/", params).json()
        seen += [e["payload"]["n"] for e in body["results"]]
        if not body["next_before"]:
            break
        params["before"] = body["next_before"]
    assert seen == [6, 5, 4, 3, 2, 1, 0]


def test_unknown_filter_is_a_clear_400(in_acme: Any, client_for: Any, alice: Any) -> None:
    response = client_for(alice).get(f"{API}/events/", {"colour": "red"})
    assert response.status_code == 400
    assert "Unknown filter(s): colour" in str(response.json())
    page = client_for(alice).get("/compliance/audit/", {"colour": "red"})
    assert page.status_code == 400
    assert b"Unknown filter(s): colour" in page.content


def test_bad_time_filter_is_a_clear_400(in_acme: Any, client_for: Any, alice: Any) -> None:
    response = client_for(alice).get(f"{API}/events/", {"since": "yesterday-ish"})
    assert response.status_code == 400
    assert "Not a date/time" in str(response.json())


def test_developer_bob_cannot_read_the_audit_log(in_acme: Any, client_for: Any, bob: Any) -> None:
    client = client_for(bob)
    assert client.get(f"{API}/events/").status_code == 403
    assert client.post(f"{API}/verify/").status_code == 403
    assert client.get("/compliance/audit/").status_code == 403


def test_verify_endpoint_reports_the_chain(in_acme: Any, client_for: Any, alice: Any, unique: str) -> None:
    _seed(unique, 2)
    assert client_for(alice).post(f"{API}/checkpoints/").status_code == 201
    body = client_for(alice).post(f"{API}/verify/").json()
    assert body["ok"] is True
    assert body["first_bad_seq"] is None


def test_viewer_page_renders_with_csp_safe_markup(
    in_acme: Any, client_for: Any, alice: Any, unique: str
) -> None:
    _seed(unique, 2)
    response = client_for(alice).get("/compliance/audit/", {"q": unique})
    assert response.status_code == 200
    assert b"test.api.even" in response.content
    assert b"<script>" not in response.content
    htmx = client_for(alice).get("/compliance/audit/", {"q": unique}, HTTP_HX_REQUEST="true")
    assert b"<html" not in htmx.content


def test_retention_out_of_range_or_over_plan_is_refused(in_acme: Any, client_for: Any, alice: Any) -> None:
    client = client_for(alice)
    for days in (29, 366):
        response = client.put(f"{API}/retention/", {"retention_days": days}, content_type="application/json")
        assert response.status_code == 400
        assert "between 30 and 365" in str(response.json())
    cap = selectors.plan_retention_cap()
    if cap < 365:
        response = client.put(
            f"{API}/retention/", {"retention_days": cap + 1}, content_type="application/json"
        )
        assert response.status_code == 400
        assert "plan keeps audit events for at most" in str(response.json())
    ok = client.put(f"{API}/retention/", {"retention_days": 30}, content_type="application/json")
    assert ok.status_code == 200
    assert selectors.audit_settings().retention_days == 30


def test_export_request_via_api(in_acme: Any, client_for: Any, alice: Any) -> None:
    response = client_for(alice).post(
        f"{API}/exports/",
        {"format": "jsonl", "since": "2026-01-01T00:00:00Z", "until": "2036-01-01T00:00:00Z"},
        content_type="application/json",
    )
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "pending"
    bad = client_for(alice).post(
        f"{API}/exports/",
        {"format": "pdf", "since": "2026-01-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"},
        content_type="application/json",
    )
    assert bad.status_code == 400

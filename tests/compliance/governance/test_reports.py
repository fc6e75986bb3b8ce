"""Reports: the catalogue, collectors, HTML and PDF, the dashboard, and bad input."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance.governance import collectors, services
from compliance.governance.catalogue import UnknownFramework, frameworks
from compliance.governance.collectors import Period, collect
from compliance.governance.reports import build_report
from compliance.models import AuditEvent

PERIOD = Period(date(2026, 1, 1), date(2026, 12, 31))


def test_the_catalogue_covers_the_five_frameworks():
    assert set(frameworks()) == {"soc2", "iso27001", "hipaa", "gdpr", "eu_ai_act"}
    for fw in frameworks().values():
        assert len(fw.controls) >= 5


def test_an_unknown_framework_is_a_clear_error(in_acme):
    with pytest.raises(UnknownFramework, match=r"Unknown framework 'pci'\. Known frameworks"):
        build_report(framework_key="pci", period=PERIOD)


def test_mfa_coverage_fails_until_every_member_has_an_authenticator(in_acme):
    evidence = collect("mfa_coverage", PERIOD)
    members = get_user_model().objects.filter(is_active=True).exclude(role="")
    TOTPDevice.objects.filter(user__in=members).delete()
    evidence = collect("mfa_coverage", PERIOD)
    assert evidence.status == "fail"
    assert "0 of" in evidence.summary
    for member in members:
        TOTPDevice.objects.create(user=member, name="app", confirmed=True)
    evidence = collect("mfa_coverage", PERIOD)
    assert evidence.status == "pass", evidence.summary
    assert evidence.link == "/members/"


def test_a_collector_whose_app_is_missing_asks_for_manual_input(in_acme, monkeypatch):
    monkeypatch.setitem(
        collectors.COLLECTORS, "secrets_rotation", lambda p, a: collectors.model("vault.NoSuchModel")
    )
    evidence = collect("secrets_rotation", PERIOD)
    assert evidence.status == "manual"
    assert "not part of this portal yet" in evidence.summary


def test_a_collector_that_crashes_degrades_and_keeps_the_transaction_usable(in_acme, monkeypatch):
    def boom(period, arg):
        AuditEvent.objects.raw("SELECT nonsense FROM nowhere")[0]  # a database error

    monkeypatch.setitem(collectors.COLLECTORS, "audit_events_recorded", boom)
    evidence = collect("audit_events_recorded", PERIOD)
    assert evidence.status == "manual"
    assert "could not run" in evidence.summary
    assert AuditEvent.objects.count() >= 0  # the connection still works


def test_policy_evidence_follows_the_installed_templates(in_acme, alice_user):
    assert collect("policy_enabled:release_must_be_signed", PERIOD).status == "fail"
    services.policy_install_template(key="release_must_be_signed", actor=alice_user)
    assert collect("policy_enabled:release_must_be_signed", PERIOD).status == "pass"


def test_a_control_without_collectors_needs_manual_input(in_acme):
    report = build_report(framework_key="soc2", period=PERIOD)
    training = next(r for r in report.results if r.control.id == "CC1.4")
    assert training.status == "manual"
    assert report.passing + report.failing + report.manual == len(report.results)


def test_the_report_page_shows_each_control_with_evidence(client_for, alice):
    response = client_for(alice).get("/compliance/reports/soc2/?start=2026-01-01&end=2026-12-31")
    assert response.status_code == 200
    for text in (b"CC6.1", b"CC8.1", b"active members have a confirmed authenticator", b"Download PDF"):
        assert text in response.content


def test_the_report_pdf_is_a_pdf(client_for, alice, acme):
    response = client_for(alice).get("/compliance/reports/gdpr/pdf/?start=2026-01-01&end=2026-03-31")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert 'filename="gdpr-2026-01-01-2026-03-31.pdf"' in response["Content-Disposition"]
    from django_tenants.utils import tenant_context

    with tenant_context(acme):
        assert AuditEvent.objects.filter(action="compliance.report.pdf").exists()


def test_unknown_framework_page_and_api_are_404_with_a_message(client_for, alice):
    client = client_for(alice)
    assert client.get("/compliance/reports/pci/").status_code == 404
    response = client.get("/api/v1/compliance/reports/pci/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_framework"
    assert "Known frameworks" in response.json()["error"]["message"]


def test_a_bad_period_is_a_400(client_for, alice):
    client = client_for(alice)
    assert client.get("/compliance/reports/soc2/?start=2026-13-01").status_code == 400
    response = client.get("/api/v1/compliance/reports/soc2/?start=2026-05-01&end=2026-01-01")
    assert response.status_code == 400
    assert "starts after it ends" in str(response.json()["error"])


def test_the_api_report_has_status_evidence_date_and_link(client_for, alice):
    body = client_for(alice).get("/api/v1/compliance/reports/hipaa/").json()
    assert body["framework"]["key"] == "hipaa"
    control = body["controls"][0]
    assert control["status"] in ("pass", "fail", "manual")
    assert {"summary", "as_of", "link", "status"} <= set(control["evidence"][0])


def test_the_dashboard_shows_score_violations_and_deadlines(client_for, alice):
    client = client_for(alice)
    page = client.get("/compliance/overview/")
    assert page.status_code == 200
    assert b"Score" in page.content
    assert b"Open violations" in page.content
    assert b"Data-subject requests" in page.content
    data = client.get("/api/v1/compliance/dashboard/").json()
    assert 0 <= data["score"] <= 100
    assert set(data["frameworks"]) == set(frameworks())
    assert {"open", "overdue", "due_within_7_days"} == set(data["dsr"])


def test_bob_cannot_read_reports(client_for, bob):
    client = client_for(bob)
    assert client.get("/compliance/overview/").status_code == 403
    assert client.get("/compliance/reports/soc2/pdf/").status_code == 403
    assert client.get("/api/v1/compliance/reports/soc2/").status_code == 403


def test_no_collector_crashes_on_a_real_tenant(in_acme):
    """A crash degrades to "manual" in a report; here it must not happen at all."""
    for key in frameworks():
        for result in build_report(framework_key=key, period=PERIOD).results:
            for evidence in result.evidence:
                assert "could not run" not in evidence.summary, (key, evidence.collector)


def test_secrets_without_rotation_or_overdue_fail_the_rotation_evidence(in_acme):
    from datetime import timedelta

    from django.apps import apps
    from django.utils import timezone

    try:
        secret_model = collectors.model("vault.Secret", "rotation_policy", "rotated_at")
    except collectors.Missing:
        pytest.skip("the vault app has no rotation fields in this tree")
    fields = {f.name for f in secret_model._meta.get_fields()}
    assert apps.is_installed("vault")
    base = {"environment": "production"} if "environment" in fields else {}
    secret_model.objects.create(
        name="ok/monthly", rotation_policy="monthly", rotated_at=timezone.now(), **base
    )
    assert collect("secrets_rotation", PERIOD).status == "pass"
    secret_model.objects.create(
        name="db/password", rotation_policy="weekly", rotated_at=timezone.now() - timedelta(days=30), **base
    )
    evidence = collect("secrets_rotation", PERIOD)
    assert evidence.status == "fail"
    assert "1 overdue" in evidence.summary
    assert any("db/password" in d for d in evidence.details)


def test_chain_evidence_comes_from_the_audit_verifier(in_acme, monkeypatch):
    from compliance import verification

    evidence = collect("audit_chain_verified", PERIOD)
    assert evidence.status == "fail"  # nothing signed in a fresh test tenant
    assert "no signed checkpoint" in evidence.summary

    def verified(**kwargs):
        return verification.VerifyResult(
            chain="t_acme", head_seq=9, anchor_seq=5, last_trusted_checkpoint_seq=5
        )

    monkeypatch.setattr(verification, "audit_chain_verify", verified)
    evidence = collect("audit_chain_verified", PERIOD)
    assert evidence.status == "pass"
    assert "OK: chain t_acme" in evidence.details[0]

    def tampered(**kwargs):
        result = verification.VerifyResult(chain="t_acme")
        result.fail(7, "hash of seq 7 does not match its contents")
        return result

    monkeypatch.setattr(verification, "audit_chain_verify", tampered)
    evidence = collect("audit_chain_verified", PERIOD)
    assert evidence.status == "fail"
    assert "first bad seq 7" in evidence.summary

"""GDPR: data-subject requests (export, erase), consent records, the DPIA register."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django_tenants.utils import tenant_context

from compliance import audit
from compliance.governance import selectors, services
from compliance.governance.models import ConsentRecord, DataSubjectRequest, Dpia, ErasedSubject
from compliance.models import AuditEvent
from compliance.verification import audit_chain_verify
from tenants.models import TenantEmail

API = "/api/v1/compliance"


def test_a_request_for_an_unknown_person_is_a_clear_error(in_acme, alice_user):
    with pytest.raises(ValidationError) as caught:
        services.dsr_create(actor=alice_user, kind="export", subject_email="nobody@nowhere.test")
    assert "No one with the email nobody@nowhere.test is known" in str(caught.value)
    assert not DataSubjectRequest.objects.exists()


def test_unknown_person_on_the_page_and_the_api(client_for, alice):
    client = client_for(alice)
    page = client.post("/compliance/privacy/requests/", {"kind": "erase", "subject_email": "ghost@x.test"})
    assert page.status_code == 400
    assert b"is known to this workspace" in page.content
    api = client.post(f"{API}/dsr/", {"kind": "export", "subject_email": "ghost@x.test"})
    assert api.status_code == 400
    assert "subject_email" in api.json()["error"]["fields"]


def test_a_request_has_a_30_day_deadline_and_no_email_in_the_audit_payload(in_acme, alice_user, bob_user):
    dsr = services.dsr_create(actor=alice_user, kind="export", subject_email="BOB@acme.test")
    assert dsr.deadline - dsr.received_at == timedelta(days=30)
    assert dsr.status == "received"
    assert dsr.subject_email == "bob@acme.test"
    event = AuditEvent.objects.filter(action="privacy.dsr.create").latest("id")
    assert "bob@acme.test" not in json.dumps(event.payload)


def test_export_zips_everything_about_the_person(in_acme, alice_user, bob_user):
    services.consent_record(actor=alice_user, subject_email="bob@acme.test", purpose="newsletter")
    audit.record(action="vault.secret.reveal", actor=bob_user, payload={"reason": "debug"})
    dsr = services.dsr_create(actor=alice_user, kind="export", subject_email="bob@acme.test")
    dsr = services.dsr_fulfil(dsr=dsr, actor=alice_user)
    assert dsr.status == "completed"
    assert dsr.result_file.startswith("governance/dsr/")
    assert default_storage.path(dsr.result_file).split("/")[-5] == "t_acme"  # schema-prefixed
    with default_storage.open(dsr.result_file) as fh, zipfile.ZipFile(io.BytesIO(fh.read())) as archive:
        names = set(archive.namelist())
        member = json.loads(archive.read("member.jsonl"))
        events = [json.loads(line) for line in archive.read("audit_events.jsonl").splitlines()]
        consent = json.loads(archive.read("consent_records.jsonl"))
        manifest = json.loads(archive.read("manifest.json"))
        for name, digest in manifest["sha256"].items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest
    assert {"member.jsonl", "audit_events.jsonl", "consent_records.jsonl", "manifest.json"} <= names
    assert member["email"] == "bob@acme.test"
    assert "password" not in member
    assert any(e["action"] == "vault.secret.reveal" for e in events)
    assert consent["purpose"] == "newsletter"
    assert set(manifest["sha256"]) == names - {"manifest.json"}
    with pytest.raises(ValidationError, match="already completed"):
        services.dsr_fulfil(dsr=dsr, actor=alice_user)


def test_the_export_is_downloadable_by_privacy_managers_only(client_for, alice, bob, acme):
    with tenant_context(acme):
        dsr = services.dsr_create(actor=alice.user(), kind="export", subject_email="bob@acme.test")
    client = client_for(alice)
    assert client.post(f"/compliance/privacy/requests/{dsr.pk}/fulfil/").status_code == 302
    response = client.get(f"/compliance/privacy/requests/{dsr.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"PK"
    assert client_for(bob).get(f"/compliance/privacy/requests/{dsr.pk}/download/").status_code == 403


def test_erase_anonymises_the_person_and_leaves_the_audit_chain_untouched(in_acme, alice_user, make_member):
    carol = make_member("developer", "carol")
    email = carol.email
    services.consent_record(actor=alice_user, subject_email=email, purpose="product updates")
    audit.record(action="deploy.run", actor=carol, payload={"env": "staging"})
    before = list(AuditEvent.objects.order_by("id").values_list("id", "actor_label", "payload"))
    dsr = services.dsr_create(actor=alice_user, kind="erase", subject_email=email)
    dsr = services.dsr_fulfil(dsr=dsr, actor=alice_user)
    carol.refresh_from_db()
    assert carol.email.startswith("erased-")
    assert carol.email.endswith("@erased.invalid")
    assert not carol.is_active
    assert not carol.has_usable_password()
    assert carol.name == ""
    assert not get_user_model().objects.filter(email=email).exists()
    assert not TenantEmail.objects.filter(email=email).exists()
    assert ConsentRecord.objects.get().subject_email == carol.email
    assert dsr.subject_email == ""
    assert dsr.result_summary["member"] == "anonymised"
    # Hashed rows are never rewritten: erasure leaves every earlier event as it was.
    after = list(
        AuditEvent.objects.filter(id__lte=before[-1][0])
        .order_by("id")
        .values_list("id", "actor_label", "payload")
    )
    assert after == before
    # Readers show the erased person under the alias (the ErasedSubject mapping).
    shown = selectors.audit_mask(AuditEvent.objects.get(action="deploy.run", actor_id=str(carol.pk)))
    assert shown["actor_label"] == carol.email
    assert shown["ip"] is None
    assert ErasedSubject.objects.get().actor_id == str(carol.pk)
    # The audit viewer and API read through the same mask.
    from compliance.selectors import audit_events

    listed = [
        e for e in audit_events(filters={}).events if e.action == "deploy.run" and e.actor_id == str(carol.pk)
    ]
    assert listed
    assert listed[0].actor_label == carol.email
    assert email not in listed[0].actor_label
    result = audit_chain_verify(check_storage=False)  # chains the new rows, then verifies all
    assert result.ok, result.summary()
    assert result.checked >= len(before)
    erase_event = AuditEvent.objects.filter(action="privacy.dsr.erase").latest("id")
    assert email not in json.dumps(erase_event.payload)
    assert email not in erase_event.target_label


def test_erase_removes_allauth_addresses_sso_links_sessions_and_invitations(in_acme, alice_user, make_member):
    from allauth.account.models import EmailAddress
    from allauth.socialaccount.models import SocialAccount

    from tenants.members.models import Invitation, MemberSession
    from tenants.members.services import invitation_create

    carol = make_member("developer", "erasable")
    email = carol.email
    EmailAddress.objects.create(user=carol, email=email, verified=True, primary=True)
    SocialAccount.objects.create(
        user=carol, provider="saml", uid=email, extra_data={"email": email, "groups": ["dev"]}
    )
    MemberSession.objects.create(session_key="s" * 40, user=carol, ip="203.0.113.9", user_agent="Firefox")
    pending_email = f"pending-{email}"
    invitation_create(actor=alice_user, email=pending_email, role="viewer")

    services.dsr_fulfil(
        dsr=services.dsr_create(actor=alice_user, kind="erase", subject_email=email), actor=alice_user
    )
    dsr = services.dsr_fulfil(
        dsr=services.dsr_create(actor=alice_user, kind="erase", subject_email=pending_email), actor=alice_user
    )

    assert not EmailAddress.objects.filter(user=carol).exists()
    assert not EmailAddress.objects.filter(email__iexact=email).exists()
    assert not SocialAccount.objects.filter(user=carol).exists()
    assert not MemberSession.objects.filter(user=carol).exists()
    invitation = Invitation.objects.get(email__startswith="erased-")
    assert invitation.revoked_at is not None  # its link can no longer make a member
    assert not Invitation.objects.filter(email__iexact=pending_email).exists()
    assert dsr.result_summary["invitations"] == 1


def test_you_cannot_erase_yourself(in_acme, alice_user):
    dsr = services.dsr_create(actor=alice_user, kind="erase", subject_email=alice_user.email)
    with pytest.raises(ValidationError, match="cannot erase yourself"):
        services.dsr_fulfil(dsr=dsr, actor=alice_user)


def test_a_request_can_be_rejected_with_a_reason(in_acme, alice_user, bob_user):
    dsr = services.dsr_create(actor=alice_user, kind="erase", subject_email=bob_user.email)
    with pytest.raises(ValidationError):
        services.dsr_reject(dsr=dsr, actor=alice_user, reason=" ")
    services.dsr_reject(dsr=dsr, actor=alice_user, reason="legal hold")
    assert DataSubjectRequest.objects.get().status == "rejected"


def test_a_person_known_only_by_consent_can_make_a_request(in_acme, alice_user):
    services.consent_record(actor=alice_user, subject_email="lead@prospect.test", purpose="marketing")
    dsr = services.dsr_create(actor=alice_user, kind="export", subject_email="lead@prospect.test")
    assert dsr.pk


def test_consent_is_recorded_and_withdrawn(client_for, alice, acme):
    client = client_for(alice)
    assert b"No consent records yet" in client.get("/compliance/privacy/consent/").content
    response = client.post(
        "/compliance/privacy/consent/",
        {"subject_email": "x@y.test", "purpose": "newsletter", "granted": "on"},
    )
    assert response.status_code == 302
    with tenant_context(acme):
        record = ConsentRecord.objects.get()
    assert record.is_active
    client.post(f"/compliance/privacy/consent/{record.pk}/withdraw/")
    with tenant_context(acme):
        record.refresh_from_db()
        assert record.withdrawn_at is not None
        assert AuditEvent.objects.filter(action="privacy.consent.withdraw").exists()


def test_dpia_register(in_acme, alice_user):
    with pytest.raises(ValidationError, match="mitigations"):
        services.dpia_save(actor=alice_user, title="Analytics", processing="usage data", risk_level="high")
    dpia = services.dpia_save(
        actor=alice_user,
        title="Analytics",
        processing="usage data",
        risk_level="high",
        mitigations="pseudonymise",
    )
    services.dpia_approve(dpia=dpia, actor=alice_user)
    assert Dpia.objects.get().status == "approved"
    services.dpia_save(actor=alice_user, dpia=dpia, mitigations="pseudonymise and aggregate")
    assert Dpia.objects.get().status == "draft"  # a changed DPIA needs approving again


def test_dpia_pages(client_for, alice, acme):
    client = client_for(alice)
    assert b"The register is empty" in client.get("/compliance/privacy/dpia/").content
    response = client.post(
        "/compliance/privacy/dpia/new/",
        {"title": "CRM", "processing": "customer contacts", "risk_level": "medium"},
    )
    assert response.status_code == 302
    assert b"CRM" in client.get("/compliance/privacy/dpia/").content


def test_bob_cannot_see_privacy_records(client_for, bob):
    client = client_for(bob)
    assert client.get("/compliance/privacy/requests/").status_code == 403
    assert client.get(f"{API}/dsr/").status_code == 403
    assert client.post(f"{API}/consent/", {"subject_email": "a@b.test", "purpose": "x"}).status_code == 403


def test_api_dsr_without_an_email_is_a_400_not_a_500(client_for, alice):
    response = client_for(alice).post(f"{API}/dsr/", {"kind": "erase"}, content_type="application/json")
    assert response.status_code == 400
    assert "subject_email" in response.json()["error"]["fields"]

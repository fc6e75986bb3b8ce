"""EU AI Act: the AI-system register, risk assessments and the human review queue."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from compliance.governance import services
from compliance.governance.collectors import Period, collect
from compliance.governance.models import AIReviewItem, AISystem
from compliance.models import AuditEvent

API = "/api/v1/compliance"
PERIOD = Period(date(2026, 1, 1), date(2026, 12, 31))


@pytest.fixture
def scorer(in_acme, alice_user):
    system = services.ai_system_save(
        actor=alice_user, name="Credit scorer", purpose="scores loan applications"
    )
    services.ai_risk_assess(
        actor=alice_user, system=system, risk_class="high", likelihood=3, impact=5, rationale="Annex III 5(b)"
    )
    system.refresh_from_db()
    return services.ai_system_save(
        actor=alice_user,
        system=system,
        status="active",
        human_oversight="Credit officer reviews every refusal.",
    )


def test_a_system_must_be_assessed_before_it_is_active(in_acme, alice_user):
    with pytest.raises(ValidationError, match="Assess the system"):
        services.ai_system_save(actor=alice_user, name="Chatbot", purpose="support", status="active")


def test_a_high_risk_system_needs_human_oversight_to_be_active(in_acme, alice_user):
    system = services.ai_system_save(actor=alice_user, name="CV screener", purpose="ranks applicants")
    services.ai_risk_assess(
        actor=alice_user, system=system, risk_class="high", likelihood=4, impact=4, rationale="Annex III 4"
    )
    system.refresh_from_db()
    assert system.risk_class == "high"
    with pytest.raises(ValidationError, match="human oversight"):
        services.ai_system_save(actor=alice_user, system=system, status="active")


def test_an_unacceptable_system_is_retired_and_cannot_be_reactivated(in_acme, alice_user, scorer):
    services.ai_risk_assess(
        actor=alice_user,
        system=scorer,
        risk_class="unacceptable",
        likelihood=5,
        impact=5,
        rationale="social scoring",
    )
    scorer.refresh_from_db()
    assert scorer.status == "retired"
    with pytest.raises(ValidationError, match="prohibited"):
        services.ai_system_save(actor=alice_user, system=scorer, status="active")


def test_assessment_input_is_checked(in_acme, alice_user, scorer):
    for bad in ({"risk_class": "spooky"}, {"likelihood": 9}, {"rationale": ""}):
        args = {"risk_class": "high", "likelihood": 2, "impact": 2, "rationale": "x", **bad}
        with pytest.raises(ValidationError):
            services.ai_risk_assess(actor=alice_user, system=scorer, **args)


def test_high_risk_decisions_wait_for_a_second_person(in_acme, alice_user, scorer, make_member):
    item = services.ai_review_submit(
        actor=alice_user, system=scorer, subject="application 4711", proposed_outcome="refuse"
    )
    assert item.status == "pending"
    with pytest.raises(ValidationError, match="someone other than who submitted"):
        services.ai_review_decide(actor=alice_user, item=item, approve=True)
    reviewer = make_member("org_admin", "rita")
    with pytest.raises(ValidationError, match="Say why"):
        services.ai_review_decide(actor=reviewer, item=item, approve=False)
    item = services.ai_review_decide(actor=reviewer, item=item, approve=True, note="checked income docs")
    assert (item.status, item.reviewer) == ("approved", reviewer)
    event = AuditEvent.objects.filter(action="ai.review.approve").latest("id")
    assert event.actor_id == str(reviewer.pk)
    with pytest.raises(ValidationError, match="already approved"):
        services.ai_review_decide(actor=reviewer, item=item, approve=False, note="x")


def test_only_high_risk_systems_use_the_review_queue(in_acme, alice_user):
    system = services.ai_system_save(actor=alice_user, name="Spellcheck", purpose="typos")
    services.ai_risk_assess(
        actor=alice_user, system=system, risk_class="minimal", likelihood=1, impact=1, rationale="x"
    )
    system.refresh_from_db()
    with pytest.raises(ValidationError, match="review queue is for high-risk"):
        services.ai_review_submit(actor=alice_user, system=system, subject="s", proposed_outcome="o")


def test_ai_evidence(in_acme, alice_user, scorer):
    assert collect("ai_register_classified", PERIOD).status == "pass"
    assert collect("ai_prohibited_systems", PERIOD).status == "pass"
    assert collect("ai_human_review", PERIOD).status == "pass"
    services.ai_system_save(actor=alice_user, name="New bot", purpose="?")
    assert collect("ai_register_classified", PERIOD).status == "fail"


def test_register_and_queue_pages(client_for, alice, acme):
    client = client_for(alice)
    assert b"No AI systems registered" in client.get("/compliance/ai/").content
    response = client.post(
        "/compliance/ai/", {"name": "Fraud model", "purpose": "flags payments", "status": "planned"}
    )
    assert response.status_code == 302
    with tenant_context(acme):
        system = AISystem.objects.get()
    response = client.post(
        f"/compliance/ai/{system.pk}/",
        {"risk_class": "high", "likelihood": 3, "impact": 4, "rationale": "blocks payments"},
    )
    assert response.status_code == 302
    assert b"Nothing waits for review" in client.get("/compliance/ai/reviews/").content


def test_api_queue_submit_and_decide(client_for, alice, acme, unique):
    from tenants.members.services import member_create

    with tenant_context(acme):
        system = services.ai_system_save(actor=alice.user(), name="Triage", purpose="tickets")
        services.ai_risk_assess(
            actor=alice.user(), system=system, risk_class="high", likelihood=2, impact=4, rationale="x"
        )
        system.refresh_from_db()
        services.ai_system_save(
            actor=alice.user(), system=system, status="active", human_oversight="agent checks"
        )
        member_create(email=f"ross-{unique}@acme.test", role="auditor", password="x" * 16)
    client = client_for(alice)
    created = client.post(
        f"{API}/ai-reviews/",
        {"system": system.pk, "subject": "ticket 12", "proposed_outcome": "close"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pending = client.get(f"{API}/ai-reviews/?status=pending").json()["results"]
    assert [p["subject"] for p in pending] == ["ticket 12"]
    own = client.post(f"{API}/ai-reviews/{pending[0]['id']}/decide/", {"decision": "approve"})
    assert own.status_code == 400  # the submitter may not approve their own decision
    with tenant_context(acme):
        assert AIReviewItem.objects.get().status == "pending"

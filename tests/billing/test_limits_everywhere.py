"""Plan limits in every service that creates a limited thing, through the real API and pages.

Each test puts Acme on a plan that leaves exactly one slot, so the first create succeeds
and the next one is refused with the upgrade message (a 400 in the API, a form error or a
message on the page), leaving nothing half-written. Globex's (Mallory's) usage never
counts against Acme.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django_tenants.utils import tenant_context

from compliance.models import AuditEvent
from portal.accounts.models import User
from tenants.billing.selectors import usage_count
from tenants.models import Plan, Tenant
from tests.sample_app import build

UPGRADE = "Upgrade your plan on the Billing page (/billing/)"


def _usage(tenant: Any, kind: str) -> int:
    with tenant_context(tenant):
        return usage_count(kind)


def _one_slot_left(tenant: Any, kind: str, field: str) -> Plan:
    """Put `tenant` on a fresh plan whose `field` limit leaves room for exactly one more."""
    plan = Plan.objects.create(
        slug=f"tight-{secrets.token_hex(3)}", name="Tight", **{field: _usage(tenant, kind) + 1}
    )
    Tenant.objects.filter(pk=tenant.pk).update(plan=plan)
    return plan


def _api(client: Client, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return getattr(client, method)(path, json.dumps(body or {}), content_type="application/json")


def _refused(response: Any, label: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "Your Tight plan allows" in error["message"]
    assert label in error["message"]
    assert UPGRADE in error["message"]


def _key() -> str:
    from deployments.signing import b64

    return b64(secrets.token_bytes(32))


# --- environments -------------------------------------------------------------------------
def test_environment_creation_stops_at_the_plan_limit_in_api_and_page(client_for, alice, acme, unique):
    _one_slot_left(acme, "environments", "max_environments")
    api = client_for(alice)
    assert (
        _api(api, "post", "/api/v1/deployments/environments/", {"name": f"one-{unique}"}).status_code == 201
    )
    before = _usage(acme, "environments")
    _refused(
        _api(api, "post", "/api/v1/deployments/environments/", {"name": f"two-{unique}"}), "environments"
    )
    page = api.post(
        "/deployments/environments/", {"env-name": f"three-{unique}", "env-approvals_required": 0}
    )
    assert page.status_code == 400
    assert UPGRADE in page.content.decode()
    assert _usage(acme, "environments") == before


def test_mallorys_environments_do_not_count_against_acme(client_for, alice, acme, globex, unique):
    from deployments.models import Environment

    _one_slot_left(acme, "environments", "max_environments")
    with tenant_context(globex):  # Globex has more environments than Acme's whole allowance
        for n in range(_usage(acme, "environments") + 3):
            Environment.objects.create(name=f"globex-{unique}-{n}")
    response = _api(client_for(alice), "post", "/api/v1/deployments/environments/", {"name": f"a-{unique}"})
    assert response.status_code == 201, response.content


# --- agents -------------------------------------------------------------------------------
def _enrolment_token(acme: Any, alice: Any, unique: str, max_uses: int = 5) -> str:
    from deployments import services

    with tenant_context(acme):
        environment = services.environment_create(name=f"agents-{unique}", actor=alice.user())
        _, raw = services.enrollment_token_create(
            environment=environment, actor=alice.user(), max_uses=max_uses
        )
    return raw


def _enrol(alice: Any, raw: str, name: str) -> Any:
    body = {"token": raw, "public_key": _key(), "host_fingerprint": f"host-{name}", "name": name}
    return _api(Client(HTTP_HOST=alice.host), "post", "/api/v1/deployments/agents/enroll/", body)


def test_agent_enrolment_stops_at_the_plan_limit_and_keeps_the_token_use(acme, alice, unique, db):
    from deployments.models import EnrollmentToken

    raw = _enrolment_token(acme, alice, unique)
    _one_slot_left(acme, "agents", "max_agents")
    assert _enrol(alice, raw, "first").status_code == 201
    before = _usage(acme, "agents")
    _refused(_enrol(alice, raw, "second"), "agents")
    with tenant_context(acme):
        assert EnrollmentToken.objects.get(token_hash=EnrollmentToken.hash(raw)).uses == 1
    assert _usage(acme, "agents") == before


def test_mallorys_agents_do_not_count_against_acme(acme, globex, alice, unique, db):
    from deployments.models import Agent, Environment

    raw = _enrolment_token(acme, alice, unique)
    _one_slot_left(acme, "agents", "max_agents")
    with tenant_context(globex):
        environment = Environment.objects.create(name=f"globex-{unique}")
        for n in range(_usage(acme, "agents") + 3):
            Agent.objects.create(
                name=f"g{n}",
                environment=environment,
                public_key=_key(),
                host_fingerprint=f"g{n}",
                status="online",
            )
    assert _enrol(alice, raw, "acme-agent").status_code == 201


# --- deploys per month --------------------------------------------------------------------
@pytest.fixture
def acme_release(acme: Any, alice: Any, unique: str, db: Any) -> tuple[Any, Any]:
    from deployments import services

    with tenant_context(acme):
        environment = services.environment_create(name=f"deploys-{unique}", actor=alice.user())
        release = services.release_create(
            version=f"1.0.0+{unique}",
            artifact=ContentFile(build.tarball("1.0.0"), name="app.tar.gz"),
            manifest=build.manifest(),
            actor=alice.user(),
        )
    return environment, release


def test_deploy_runs_stop_at_the_monthly_limit_but_rollbacks_still_run(client_for, alice, acme, acme_release):
    from deployments.models import DeployRun

    environment, release = acme_release
    _one_slot_left(acme, "deploys_per_month", "max_deploys_per_month")
    api = client_for(alice)
    body = {"environment": environment.name, "release": release.version}
    first = _api(api, "post", "/api/v1/deployments/runs/", body)
    assert first.status_code == 201, first.content
    with tenant_context(acme):  # the run finished well (no agent needed for this test)
        DeployRun.objects.filter(pk=first.json()["id"]).update(status=DeployRun.Status.SUCCEEDED)
    before = _usage(acme, "deploys_per_month")
    _refused(_api(api, "post", "/api/v1/deployments/runs/", body), "deploys this month")
    page = api.post("/deployments/deploy/", body, follow=True)
    assert UPGRADE in page.content.decode()
    assert _usage(acme, "deploys_per_month") == before
    rollback = _api(api, "post", "/api/v1/deployments/runs/", {**body, "rollback": True})
    assert rollback.status_code == 201, rollback.content  # restoring service is never refused
    assert rollback.json()["kind"] == "rollback"


def test_mallorys_deploys_do_not_count_against_acme(client_for, alice, acme, globex, acme_release, unique):
    from deployments.models import DeployRun, Environment, Release

    environment, release = acme_release
    _one_slot_left(acme, "deploys_per_month", "max_deploys_per_month")
    with tenant_context(globex):
        g_env = Environment.objects.create(name=f"globex-{unique}")
        g_release = Release.objects.create(
            version=f"g-{unique}", artifact="releases/g.tar.gz", artifact_sha256="0" * 64, manifest={}
        )
        for _ in range(_usage(acme, "deploys_per_month") + 3):
            DeployRun.objects.create(environment=g_env, release=g_release, status=DeployRun.Status.SUCCEEDED)
    body = {"environment": environment.name, "release": release.version}
    assert _api(client_for(alice), "post", "/api/v1/deployments/runs/", body).status_code == 201


# --- secrets ------------------------------------------------------------------------------
def test_secret_creation_stops_at_the_plan_limit_in_api_and_page(client_for, alice, acme, unique):
    _one_slot_left(acme, "secrets", "max_secrets")
    api = client_for(alice)
    created = _api(api, "post", "/api/v1/vault/secrets/", {"name": f"app/{unique}/one", "value": "v-1"})
    assert created.status_code == 201, created.content
    before = _usage(acme, "secrets")
    _refused(
        _api(api, "post", "/api/v1/vault/secrets/", {"name": f"app/{unique}/two", "value": "v-2"}), "secrets"
    )
    page = api.post(
        "/vault/new/",
        {
            "name": f"app/{unique}/three",
            "value": "v-3",
            "secret_type": "generic",
            "environment": "development",
            "rotation_policy": "none",
        },
    )
    assert page.status_code == 400
    assert UPGRADE in page.content.decode()
    assert _usage(acme, "secrets") == before


def test_restoring_a_deleted_secret_counts_against_the_limit(client_for, alice, acme, unique):
    """Deleted secrets do not count, so bringing one back is a create as far as the plan goes."""
    api = client_for(alice)
    old = _api(api, "post", "/api/v1/vault/secrets/", {"name": f"app/{unique}/old", "value": "v"}).json()
    assert api.delete(f"/api/v1/vault/secrets/{old['id']}/").status_code == 204
    _one_slot_left(acme, "secrets", "max_secrets")
    new = _api(api, "post", "/api/v1/vault/secrets/", {"name": f"app/{unique}/new", "value": "v"})
    assert new.status_code == 201, new.content
    before = _usage(acme, "secrets")
    _refused(_api(api, "post", f"/api/v1/vault/secrets/{old['id']}/restore/"), "secrets")
    assert _usage(acme, "secrets") == before
    assert api.get(f"/api/v1/vault/secrets/{old['id']}/").json()["deleted_at"] is not None


def test_the_portals_own_release_keys_never_count_or_get_refused(client_for, alice, acme, unique):
    """A tenant at its secrets limit still creates an environment (which makes a release key)."""
    from deployments.signing import VAULT_ENVIRONMENT
    from vault.models import Secret

    with tenant_context(acme):
        Secret.objects.filter(environment=VAULT_ENVIRONMENT).update(deleted_at="2020-01-01T00:00:00Z")
    plan = _one_slot_left(acme, "secrets", "max_secrets")
    Plan.objects.filter(pk=plan.pk).update(max_secrets=_usage(acme, "secrets"))  # no slot left
    response = _api(client_for(alice), "post", "/api/v1/deployments/environments/", {"name": f"k-{unique}"})
    assert response.status_code == 201, response.content
    with tenant_context(acme):
        assert Secret.objects.filter(environment=VAULT_ENVIRONMENT, deleted_at__isnull=True).exists()


def test_mallorys_secrets_do_not_count_against_acme(client_for, alice, mallory, acme, globex, unique):
    _one_slot_left(acme, "secrets", "max_secrets")
    Tenant.objects.filter(pk=globex.pk).update(plan=Plan.objects.get(slug="business"))
    mallory_api = client_for(mallory)
    for n in range(_usage(acme, "secrets") + 2):
        body = {"name": f"globex/{unique}/{n}", "value": "m"}
        assert _api(mallory_api, "post", "/api/v1/vault/secrets/", body).status_code == 201
    body = {"name": f"acme/{unique}", "value": "a"}
    assert _api(client_for(alice), "post", "/api/v1/vault/secrets/", body).status_code == 201


# --- members and seats --------------------------------------------------------------------
def _inactive_member(acme: Any, unique: str) -> int:
    with tenant_context(acme):
        return User.objects.create_user(email=f"former-{unique}@acme.test", role="viewer", is_active=False).pk


def test_reactivation_stops_at_the_member_limit_in_api_and_page(client_for, alice, acme, unique):
    pk = _inactive_member(acme, unique)
    plan = _one_slot_left(acme, "members", "max_members")
    Plan.objects.filter(pk=plan.pk).update(max_members=_usage(acme, "members"))  # full
    api = client_for(alice)
    _refused(_api(api, "patch", f"/api/v1/members/{pk}/", {"is_active": True}), "members")
    page = api.post(f"/members/{pk}/active/", {"active": "1"}, follow=True)
    assert UPGRADE in page.content.decode()
    with tenant_context(acme):
        assert User.objects.get(pk=pk).is_active is False
    Plan.objects.filter(pk=plan.pk).update(max_members=_usage(acme, "members") + 1)
    assert _api(api, "patch", f"/api/v1/members/{pk}/", {"is_active": True}).status_code == 200


def test_invitations_reserve_seats_and_stop_at_the_member_limit(client_for, alice, acme, unique):
    from tenants.members.models import Invitation

    _one_slot_left(acme, "seats", "max_members")
    api = client_for(alice)
    first = {"email": f"new-{unique}@acme.test", "role": "viewer"}
    assert _api(api, "post", "/api/v1/invitations/", first).status_code == 201
    # Re-inviting the same address replaces its pending invitation: no extra seat.
    assert _api(api, "post", "/api/v1/invitations/", first).status_code == 201
    second = {"email": f"other-{unique}@acme.test", "role": "viewer"}
    _refused(_api(api, "post", "/api/v1/invitations/", second), "members and pending invitations")
    page = api.post("/members/", second)
    assert page.status_code == 400
    assert UPGRADE in page.content.decode()
    with tenant_context(acme):
        assert not Invitation.objects.filter(email=second["email"]).exists()


def test_accepting_an_invitation_beyond_the_limit_is_a_form_error(client_for, alice, acme, unique):
    from tenants.members import services
    from tenants.members.models import Invitation

    with tenant_context(acme):
        invitation, token = services.invitation_create(
            email=f"late-{unique}@acme.test", role="viewer", actor=alice.user()
        )
    plan = _one_slot_left(acme, "members", "max_members")
    Plan.objects.filter(pk=plan.pk).update(max_members=_usage(acme, "members"))  # filled meanwhile
    password = "a long enough passphrase 42"
    response = Client(HTTP_HOST=alice.host).post(
        f"/members/invitations/accept/{token}/",
        {"name": "Late", "password1": password, "password2": password},
    )
    assert response.status_code == 400
    page = response.content.decode().replace("&#x27;", "'")
    assert "no free seat" in page
    assert "Ask the person who invited you" in page
    assert UPGRADE not in page  # the invitee cannot upgrade; they are told who can
    with tenant_context(acme):
        assert not User.objects.filter(email=f"late-{unique}@acme.test").exists()
        assert Invitation.objects.get(pk=invitation.pk).accepted_at is None


def test_mallorys_members_do_not_count_against_acme(client_for, alice, acme, globex, unique):
    _one_slot_left(acme, "seats", "max_members")
    with tenant_context(globex):
        for n in range(_usage(acme, "members") + 3):
            User.objects.create_user(email=f"g{n}-{unique}@globex.test", role="viewer")
    body = {"email": f"fits-{unique}@acme.test", "role": "viewer"}
    assert _api(client_for(alice), "post", "/api/v1/invitations/", body).status_code == 201


# --- concurrency ----------------------------------------------------------------------------
def test_two_concurrent_creates_cannot_both_take_the_last_slot(committed_db, acme, alice, unique):
    """check_limit holds a per-tenant advisory lock until the create commits."""
    import threading

    from django.db import connection

    from deployments import services

    previous = Tenant.objects.get(pk=acme.pk).plan_id
    plan = _one_slot_left(acme, "environments", "max_environments")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def create(n: int) -> None:
        try:
            with tenant_context(acme):
                barrier.wait(timeout=10)
                services.environment_create(name=f"race-{unique}-{n}", actor=alice.user())
            outcomes.append("created")
        except Exception as exc:  # the refusal is what we count
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes) == ["PlanLimitExceeded", "created"]
    finally:
        Tenant.objects.filter(pk=acme.pk).update(plan_id=previous)
        plan.delete()


def test_sso_just_in_time_provisioning_at_the_member_limit_is_a_clear_refusal(alice, acme, db):
    from tests.members.oidc_provider import OidcProvider
    from tests.members.test_sso import _configure, _sso_login

    with OidcProvider(client_id="tenantry-acme", client_secret="idp-secret-123") as idp:
        _configure(alice, idp)
        plan = _one_slot_left(acme, "members", "max_members")
        Plan.objects.filter(pk=plan.pk).update(max_members=_usage(acme, "members"))  # full
        claims = {"sub": "idp-erin", "email": "erin@acme.test", "email_verified": True, "name": "Erin"}
        _, done = _sso_login(alice.host, idp, claims)
    assert done.status_code == 403
    assert "reached its plan's member limit" in done.content.decode().replace("&#x27;", "'")
    with tenant_context(acme):
        assert not User.objects.filter(email="erin@acme.test").exists()
        refusal = AuditEvent.objects.filter(action="auth.sso.refused").order_by("-id").first()
    assert refusal.payload["reason"] == "plan_limit"

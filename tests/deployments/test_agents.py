"""Agents: enrolment, challenge login, heartbeats, offline detection, revocation, re-enrolment.

The agent runs as a real subprocess against a real daphne server.
"""

from __future__ import annotations

from django.utils import timezone
from django_tenants.utils import tenant_context

from deployments import services
from deployments.models import Agent, EnrollmentToken
from tests.deployments.conftest import wait_for

# pytest-django only creates the test database when a collected test asks for `db`; the
# committed_db tests below need it too, so each module here starts with plain `db` tests.


def test_it_refuses_expired_used_up_and_revoked_tokens(db, acme, alice, unique):
    from datetime import timedelta

    import pytest

    from deployments.signing import b64

    with tenant_context(acme):
        user = alice.user()
        environment = services.environment_create(name=f"tok-{unique}", actor=user)
        key = b64(bytes(range(32)))
        token, raw = services.enrollment_token_create(environment=environment, actor=user, max_uses=1)
        EnrollmentToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        with pytest.raises(services.EnrollmentRefused, match="expired"):
            services.agent_enroll(raw_token=raw, public_key=key, host_fingerprint="h", name="n")
        token, raw = services.enrollment_token_create(environment=environment, actor=user, max_uses=1)
        services.agent_enroll(raw_token=raw, public_key=key, host_fingerprint="h", name="n")
        with pytest.raises(services.EnrollmentRefused, match="used up"):
            services.agent_enroll(
                raw_token=raw, public_key=b64(bytes(range(1, 33))), host_fingerprint="h", name="n"
            )
        token, raw = services.enrollment_token_create(environment=environment, actor=user, max_uses=5)
        services.enrollment_token_revoke(token=token, actor=user)
        with pytest.raises(services.EnrollmentRefused, match="revoked"):
            services.agent_enroll(
                raw_token=raw, public_key=b64(bytes(range(2, 34))), host_fingerprint="h", name="n"
            )
        with pytest.raises(services.EnrollmentRefused, match="Unknown"):
            services.agent_enroll(raw_token="tte_guess", public_key=key, host_fingerprint="h", name="n")


def test_only_org_admins_create_tokens(db, acme, bob, unique):
    import pytest
    from django.core.exceptions import PermissionDenied

    from deployments.models import Environment

    with tenant_context(acme):
        environment = Environment.objects.create(name=f"perm-{unique}")
        with pytest.raises(PermissionDenied):
            services.enrollment_token_create(environment=environment, actor=bob.user())


def _agent(acme, environment):
    with tenant_context(acme):
        return Agent.objects.filter(environment=environment).order_by("-id").first()


def test_an_agent_enrols_logs_in_and_keeps_a_heartbeat(deploy_settings, deploy_env, start_agent, acme, alice):
    environment, raw = deploy_env()
    process = start_agent(host=alice.host, token=raw)
    agent = wait_for(lambda: (a := _agent(acme, environment)) and a.status == Agent.Status.ONLINE and a)
    assert agent.public_key
    assert agent.host_fingerprint.startswith("sha256:")
    with tenant_context(acme):
        token = EnrollmentToken.objects.get(environment=environment)
        assert token.uses == 1
        first_seen = agent.last_seen
        wait_for(lambda: Agent.objects.get(pk=agent.pk).last_seen > first_seen, timeout=5)
        # The portal marks it offline after three missed heartbeats.
        process.kill()
        later = timezone.now() + timezone.timedelta(seconds=2)
        assert services.agents_mark_offline(now=later) >= 1  # other tests may leave agents behind
        assert Agent.objects.get(pk=agent.pk).status == Agent.Status.OFFLINE


def test_the_token_is_never_reused_after_enrolment(deploy_settings, deploy_env, start_agent, acme, alice):
    environment, raw = deploy_env()
    first = start_agent(host=alice.host, token=raw)
    agent = wait_for(lambda: (a := _agent(acme, environment)) and a.status == Agent.Status.ONLINE and a)
    first.kill()
    # Restarted with the same (now used-up) token: it logs in with its key, no second enrolment.
    start_agent(host=alice.host, token=raw, state_dir=first.state_dir)
    with tenant_context(acme):
        wait_for(lambda: Agent.objects.get(pk=agent.pk).last_seen > agent.last_seen)
        assert Agent.objects.filter(environment=environment).count() == 1
    # A second node with the used-up token is refused.
    second = start_agent(host=alice.host, token=raw)
    assert second.process.wait(20) == 3
    assert "used up" in second.output()


def test_a_revoked_agent_is_cut_off_and_can_re_enrol(deploy_settings, deploy_env, start_agent, acme, alice):
    environment, raw = deploy_env()
    process = start_agent(host=alice.host, token=raw)
    agent = wait_for(lambda: (a := _agent(acme, environment)) and a.status == Agent.Status.ONLINE and a)
    with tenant_context(acme):
        services.agent_revoke(agent=agent, actor=alice.user())
    assert process.process.wait(20) == 3
    assert "revoked" in process.output()
    with tenant_context(acme):
        _, fresh = services.enrollment_token_create(environment=environment, actor=alice.user())
    start_agent(host=alice.host, token=fresh, state_dir=process.state_dir)
    new = wait_for(
        lambda: (
            (a := _agent(acme, environment)) and a.pk != agent.pk and a.status == Agent.Status.ONLINE and a
        )
    )
    assert new.public_key != agent.public_key

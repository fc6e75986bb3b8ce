"""Mallory (Globex) against Acme's deployments: agent keys, tokens, sockets, links, tasks."""

from __future__ import annotations

import base64

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.test import Client
from django_tenants.utils import tenant_context

from deployments import pipeline, services
from deployments.agent.protocol import challenge_payload
from deployments.models import Agent, DeployRun, Environment
from portal.asgi import application
from portal.celery import TenantContextMissing
from tests.conftest import session_for


def _keypair() -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, base64.b64encode(raw).decode()


def _enrol(tenant, persona, unique: str, public_key: str) -> int:
    with tenant_context(tenant):
        env = Environment.objects.create(name=f"iso-{unique}")
        _, raw = services.enrollment_token_create(environment=env, actor=persona.user())
        return services.agent_enroll(raw_token=raw, public_key=public_key, host_fingerprint="h", name="n").pk


def _agent_socket(host: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/agent/", headers=[(b"host", host.encode())])


async def _login(comm, agent_id: int, private: Ed25519PrivateKey, nonce_override=None) -> dict:
    await comm.send_json_to({"type": "hello", "agent_id": agent_id})
    challenge = await comm.receive_json_from(timeout=10)
    nonce = nonce_override[0] if nonce_override else challenge["nonce"]
    signature = (
        nonce_override[1]
        if nonce_override
        else base64.b64encode(private.sign(challenge_payload(agent_id=agent_id, nonce=nonce))).decode()
    )
    await comm.send_json_to({"type": "auth", "nonce": nonce, "signature": signature})
    reply = await comm.receive_json_from(timeout=10)
    reply["_nonce"], reply["_signature"] = nonce, signature
    return reply


async def test_mallorys_agent_key_cannot_log_in_to_acme(committed_db, acme, globex, alice, mallory, unique):
    private, public = _keypair()
    globex_agent_id = await sync_to_async(_enrol)(globex, mallory, unique, public)
    comm = _agent_socket(alice.host)
    assert (await comm.connect())[0]
    reply = await _login(comm, globex_agent_id, private)
    assert reply["type"] == "refused"
    await comm.disconnect()
    # The same key on its own tenant works.
    comm = _agent_socket(mallory.host)
    await comm.connect()
    assert (await _login(comm, globex_agent_id, private))["type"] == "welcome"
    await comm.disconnect()


async def test_a_replayed_challenge_answer_is_refused(committed_db, acme, alice, unique):
    private, public = _keypair()
    agent_id = await sync_to_async(_enrol)(acme, alice, unique, public)
    comm = _agent_socket(alice.host)
    await comm.connect()
    first = await _login(comm, agent_id, private)
    assert first["type"] == "welcome"
    await comm.disconnect()
    replay = _agent_socket(alice.host)
    await replay.connect()
    reply = await _login(replay, agent_id, private, nonce_override=(first["_nonce"], first["_signature"]))
    assert reply["type"] == "refused"
    await replay.disconnect()

    def used_once():
        with tenant_context(acme):
            return services.agent_authenticate(
                agent_id=agent_id, nonce=first["_nonce"], signature=first["_signature"]
            )

    with pytest.raises(services.AgentAuthRefused, match="already used"):
        await sync_to_async(used_once)()


async def test_mallorys_session_cannot_watch_acme_logs(committed_db, acme, alice, mallory, unique):
    def setup():
        with tenant_context(acme):
            env = Environment.objects.create(name=f"isolog-{unique}")
            return Agent.objects.create(
                name="n", environment=env, public_key=f"m{unique}", host_fingerprint="h"
            ).pk

    agent_id = await sync_to_async(setup)()
    key = await sync_to_async(session_for)(mallory)
    for path in (f"/ws/deployments/logs/agent/{agent_id}/", f"/ws/deployments/terminal/{agent_id}/"):
        comm = WebsocketCommunicator(
            application,
            path,
            headers=[
                (b"host", alice.host.encode()),
                (b"origin", f"http://{alice.host}".encode()),
                (b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()),
            ],
        )
        connected, code = await comm.connect()
        assert not connected
        assert code == 4401


def test_mallorys_enrolment_token_means_nothing_on_acme(db, globex, mallory, alice, unique):
    with tenant_context(globex):
        env = Environment.objects.create(name=f"isotok-{unique}")
        _, raw = services.enrollment_token_create(environment=env, actor=mallory.user())
    _, public = _keypair()
    response = Client(HTTP_HOST=alice.host).post(
        "/api/v1/deployments/agents/enroll/",
        {"token": raw, "public_key": public, "host_fingerprint": "h"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "Unknown enrolment token" in response.json()["error"]["message"]


def test_an_acme_artifact_link_is_refused_on_globex(db, acme, globex, alice, mallory):
    with tenant_context(acme):
        token = pipeline.link_token(agent_id=1, run_id=1, purpose="artifact")
    response = Client(HTTP_HOST=mallory.host).get(f"/api/v1/deployments/agent-links/{token}/")
    assert response.status_code == 403


def test_deploy_tasks_run_only_in_their_tenant(db, acme, globex, alice, unique):
    from deployments.tasks import deploy_run_execute

    assert isinstance(deploy_run_execute.apply(args=[1]).result, TenantContextMissing)
    with tenant_context(acme):
        env = Environment.objects.create(name=f"isotask-{unique}")
        assert not DeployRun.objects.filter(environment=env).exists()
    with tenant_context(globex):
        result = deploy_run_execute.apply(args=[987654])
        assert result.failed()  # Acme's ids mean nothing in Globex's schema


def test_mallory_cannot_rotate_acmes_release_key(committed_db, acme, globex, alice, mallory, client_for):
    from deployments import release_keys, signing
    from deployments.models import ReleaseKey

    with tenant_context(acme):
        acme_key = signing.release_key_active(actor=alice.user())
    with tenant_context(globex):
        signing.release_key_active(actor=mallory.user())
        globex_before = set(ReleaseKey.objects.values_list("pk", flat=True))
    # Her Globex session means nothing on Acme's host, with or without a fresh OTP.
    mallory_client = client_for(mallory)
    mallory_client.defaults["HTTP_HOST"] = alice.host
    response = mallory_client.post("/api/v1/deployments/release-keys/rotate/", {}, "application/json")
    assert response.status_code in (401, 403)
    assert mallory_client.post("/deployments/release-keys/rotate/").status_code in (302, 403)
    # Rotating in her own tenant never touches Acme's keys.
    with tenant_context(globex):
        try:
            release_keys.release_key_rotate(actor=mallory.user(), reason="mine")
        finally:
            ReleaseKey.objects.exclude(pk__in=globex_before).update(is_active=False)
            ReleaseKey.objects.filter(pk__in=globex_before).update(is_active=True, retired_at=None)
            from vault.models import Secret

            refs = ReleaseKey.objects.filter(pk__in=globex_before).values_list("private_key_ref", flat=True)
            Secret.objects.filter(name__in=[ref[len("vault:") :] for ref in refs]).update(deleted_at=None)
    with tenant_context(acme):
        assert signing.release_key_active() == acme_key
        assert not ReleaseKey.objects.filter(retired_at__isnull=False, pk=acme_key.pk).exists()

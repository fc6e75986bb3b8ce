"""Release-key rotation: the service, the API and page, and a real agent that learns the new key."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import PermissionDenied
from django_tenants.utils import tenant_context

from compliance.models import AuditEvent
from deployments import pipeline, release_keys, services, signing
from deployments.agent.identity import Identity
from deployments.agent.protocol import release_key_id, release_payload
from deployments.models import DeployRun, ReleaseKey
from tests.deployments.conftest import wait_for
from tests.deployments.test_pipeline import _deploy, _final_run, _online_agent, _target_detail


def _restore(acme: Any, active_pk: int | None) -> None:
    """Put the session tenant's signing key back (committed_db deletes the rows we added)."""
    from vault.models import Secret

    with tenant_context(acme):
        if active_pk is None:
            return
        ReleaseKey.objects.filter(pk__gt=active_pk).update(is_active=False)
        key = ReleaseKey.objects.get(pk=active_pk)
        ReleaseKey.objects.filter(pk=active_pk).update(is_active=True, retired_at=None)
        if key.private_key_ref.startswith("vault:"):
            Secret.objects.filter(name=key.private_key_ref[len("vault:") :]).update(deleted_at=None)


@pytest.fixture
def acme_key(committed_db: Any, acme: Any, alice: Any) -> Iterator[ReleaseKey]:
    """Acme's active key before the test; restored as the active key afterwards."""
    with tenant_context(acme):
        key = signing.release_key_active(actor=alice.user())
    yield key
    _restore(acme, key.pk)


def test_rotation_endorses_the_new_key_with_the_old_one_and_retires_it(acme_key, acme, alice):
    from vault.models import Secret

    payload = release_payload(tenant="t_acme", version="9.9.9", artifact_sha256="0" * 64, manifest={})
    with tenant_context(acme):
        old_signature = signing.b64(signing.release_private_key(acme_key).sign(payload))
        new = release_keys.release_key_rotate(actor=alice.user(), reason="yearly rotation")
        old = ReleaseKey.objects.get(pk=acme_key.pk)
        assert new.is_active
        assert new.previous == old
        assert not old.is_active
        assert old.retired_at is not None
        assert signing.release_key_active() == new
        # The old private half signs nothing any more: its vault secret is deleted.
        assert Secret.objects.get(name=old.private_key_ref[len("vault:") :]).deleted_at is not None
        event = AuditEvent.objects.filter(action="deployments.release_key.rotated").order_by("-id").first()
        assert event.payload["key_id"] == new.key_id
        assert event.payload["previous_key_id"] == old.key_id
        key_set = release_keys.release_key_set()

    # An agent that trusts only the old key learns the new one from the endorsed set...
    agent = Identity(1, "", "", "t_acme", old.public_key, "env", "")
    assert agent.release_keys_learn(key_set) == [new.key_id]
    assert agent.release_key_id == new.key_id
    # The agent itself accepts the retired key for a rollback only.
    check = {"key_id": old.key_id, "signature": old_signature, "payload": payload}
    assert "retired key" in agent.release_signature_problem(**check, rollback=False)
    assert agent.release_signature_problem(**check, rollback=True) is None
    # ...but not from a set whose endorsement was forged, nor one meant for another tenant.
    forged = [dict(entry) for entry in key_set]
    forged[-1]["endorsement"] = base64.b64encode(b"x" * 64).decode()
    other = Identity(1, "", "", "t_acme", old.public_key, "env", "")
    assert other.release_keys_learn(forged) == []
    globex_agent = Identity(1, "", "", "t_globex", old.public_key, "env", "")
    assert globex_agent.release_keys_learn(key_set) == []


def test_only_owners_and_org_admins_rotate_and_only_with_step_up(acme_key, acme, alice, bob, client_for):
    with tenant_context(acme), pytest.raises(PermissionDenied):
        release_keys.release_key_rotate(actor=bob.user())
    response = client_for(bob).post("/api/v1/deployments/release-keys/rotate/", {}, "application/json")
    assert response.status_code == 403
    response = client_for(alice, otp=False).post(
        "/api/v1/deployments/release-keys/rotate/", {}, "application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "step_up_required"
    with tenant_context(acme):
        assert signing.release_key_active() == acme_key

    api = client_for(alice)
    response = api.post("/api/v1/deployments/release-keys/rotate/", {"reason": "test"}, "application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["previous_key_id"] == acme_key.key_id
    assert body["is_active"]
    listed = api.get("/api/v1/deployments/release-keys/").json()["results"]
    assert [key["key_id"] for key in listed][:2] == [body["key_id"], acme_key.key_id]
    assert listed[1]["is_active"] is False


def test_the_release_keys_page_rotates_after_step_up(acme_key, acme, alice, bob, client_for):
    assert 'href="/deployments/release-keys/"' in client_for(bob).get("/deployments/").content.decode()
    page = client_for(bob).get("/deployments/release-keys/")
    assert page.status_code == 200
    assert acme_key.key_id in page.content.decode()
    assert "Rotate release key" not in page.content.decode()
    assert client_for(bob).post("/deployments/release-keys/rotate/").status_code == 403

    response = client_for(alice, otp=False).post("/deployments/release-keys/rotate/")
    assert response.status_code == 302
    assert "/members/security/step-up/" in response["Location"]
    with tenant_context(acme):
        assert signing.release_key_active() == acme_key

    alice_client = client_for(alice)
    assert "Rotate release key" in alice_client.get("/deployments/release-keys/").content.decode()
    response = alice_client.post("/deployments/release-keys/rotate/", {"reason": "page"}, follow=True)
    assert response.status_code == 200
    with tenant_context(acme):
        new = signing.release_key_active()
    assert new != acme_key
    assert f"New release key {new.key_id} is active" in response.content.decode()


def _rogue_command(acme: Any, environment: Any, node: Any, release: Any) -> tuple[Any, dict]:
    """A deploy command for `release`, re-signed with a key the tenant never had."""
    rogue = Ed25519PrivateKey.generate()
    rogue_public = base64.b64encode(
        rogue.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    with tenant_context(acme):
        run = DeployRun.objects.create(environment=environment, release=release, status="running")
        target = run.targets.create(agent=node, status="dispatched")
        command = pipeline.deploy_command(target)
    payload = release_payload(
        tenant="t_acme",
        version=release.version,
        artifact_sha256=release.artifact_sha256,
        manifest=release.manifest,
    )
    kid = release_key_id(rogue_public)
    command["release"]["signature"] = base64.b64encode(rogue.sign(payload)).decode()
    command["release"]["key_id"] = kid
    # It even claims to be endorsed by the current key (signed by itself): not good enough.
    command["release_keys"].append(
        {
            "key_id": kid,
            "public_key": rogue_public,
            "previous_key_id": command["release_keys"][-1]["key_id"],
            "endorsement": base64.b64encode(rogue.sign(b"endorse me")).decode(),
        }
    )
    return target, command


def test_agent_learns_the_rotated_key_deploys_new_releases_and_rolls_back_to_old_ones(
    acme_key, deploy_settings, deploy_env, make_release, start_agent, acme, alice
):
    environment, raw = deploy_env()
    agent = start_agent(host=alice.host, token=raw)
    node = _online_agent(acme, environment)
    old_release = make_release("1.0.0")
    unshipped = make_release("1.5.0")  # signed with the old key, never deployed
    assert old_release.key_id == acme_key.key_id
    assert _final_run(acme, _deploy(acme, alice, environment, old_release).pk).status == "succeeded"

    with tenant_context(acme):
        new_key = release_keys.release_key_rotate(actor=alice.user(), reason="test")
    identity_file = agent.state_dir / "identity.json"
    learned = wait_for(lambda: json.loads(identity_file.read_text())["release_key_id"] == new_key.key_id)
    assert learned
    assert set(json.loads(identity_file.read_text())["release_keys"]) == {acme_key.key_id, new_key.key_id}

    # A release signed with the retired key goes forward no more...
    run = _final_run(acme, _deploy(acme, alice, environment, unshipped).pk)
    assert run.status == "failed"
    assert "retired release key" in run.error

    new_release = make_release("2.0.0")
    assert new_release.key_id == new_key.key_id
    run = _final_run(acme, _deploy(acme, alice, environment, new_release).pk)
    assert run.status == "succeeded", run.error

    # ...but rolling back to one it signed works.
    with tenant_context(acme):
        run = pipeline.deploy_rollback(environment=environment, release=old_release, actor=alice.user())
    run = _final_run(acme, run.pk)
    assert run.status == "succeeded", run.error

    # A release signed by a key outside the tenant's key set is refused by the agent itself.
    target, command = _rogue_command(acme, environment, node, new_release)
    with tenant_context(acme):
        services.send_to_agent(node.pk, command)
    detail = wait_for(lambda: _target_detail(acme, target), timeout=20)
    assert "not in this organisation's release key set" in detail
    assert len(json.loads(identity_file.read_text())["release_keys"]) == 2


def test_a_new_agent_enrolled_after_rotation_trusts_the_whole_set(acme_key, deploy_env, acme, alice):
    from django.test import Client

    with tenant_context(acme):
        new_key = release_keys.release_key_rotate(actor=alice.user())
    _, raw = deploy_env()
    public = base64.b64encode(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    response = Client(HTTP_HOST=alice.host).post(
        "/api/v1/deployments/agents/enroll/",
        {"token": raw, "public_key": public, "host_fingerprint": "sha256:x", "name": "late"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["release_key_id"] == new_key.key_id
    assert {key["key_id"] for key in body["release_keys"]} >= {acme_key.key_id, new_key.key_id}

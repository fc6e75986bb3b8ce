"""Envelope encryption: AAD binding, KEK formats, KEK rotation under load, KMS."""

from __future__ import annotations

import base64
import os
import threading
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import override_settings
from django_tenants.utils import schema_context, tenant_context

from vault import keyring, services
from vault.errors import VaultIntegrityError
from vault.models import DataKey, Secret, SecretVersion


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_seal_uses_a_fresh_nonce_and_round_trips(acme, db):
    with tenant_context(acme):
        key_id, one = keyring.seal(b"value", secret_id=1, version=1)
        _, two = keyring.seal(b"value", secret_id=1, version=1)
        assert one != two
        assert one[:12] != two[:12]
        assert b"value" not in one
        assert keyring.open_sealed(one, data_key_id=key_id, secret_id=1, version=1) == b"value"


def test_swapping_ciphertexts_between_secrets_or_versions_fails(acme, alice, db):
    with tenant_context(acme):
        actor = alice.user()
        first = services.secret_create(actor=actor, name="app/first", value="first-value")
        second = services.secret_create(actor=actor, name="app/second", value="second-value")
        services.secret_rotate(secret=second, actor=actor, value="second-v2")
        first_row = SecretVersion.objects.get(secret=first, version=1)
        SecretVersion.objects.filter(secret=second, version=1).update(ciphertext=first_row.ciphertext)
        with pytest.raises(VaultIntegrityError):
            services.secret_reveal(secret=second, actor=actor, reason="swap", version=1)
        v1 = SecretVersion.objects.get(secret=second, version=1).ciphertext
        SecretVersion.objects.filter(secret=second, version=2).update(ciphertext=v1)
        with pytest.raises(VaultIntegrityError):
            services.secret_reveal(secret=second, actor=actor, reason="swap", version=2)
        assert services.secret_reveal(secret=first, actor=actor, reason="ok") == "first-value"


def test_swapping_ciphertexts_between_tenants_fails(acme, globex, alice, mallory, db):
    with tenant_context(acme):
        acme_secret = services.secret_create(actor=alice.user(), name="shared/name", value="acme-only")
        acme_row = SecretVersion.objects.get(secret=acme_secret)
        acme_key = DataKey.objects.get(pk=acme_row.data_key_id)
    with tenant_context(globex):
        target = services.secret_create(actor=mallory.user(), name="shared/name", value="globex")
        row = SecretVersion.objects.get(secret=target)
        # Move Acme's ciphertext in, even under Globex's own data key: the AAD names the tenant.
        SecretVersion.objects.filter(pk=row.pk).update(ciphertext=acme_row.ciphertext)
        with pytest.raises(VaultIntegrityError):
            services.secret_reveal(secret=target, actor=mallory.user(), reason="steal")
        # And Acme's wrapped data key does not unwrap as Globex's (the wrap is bound to the schema).
        with pytest.raises(keyring.DecryptionFailed):
            keyring._kek_for(acme_key.kek_id).unwrap(bytes(acme_key.wrapped), schema=connection.schema_name)


def test_kek_format_is_checked():
    with override_settings(VAULT_KEK="not base64!"), pytest.raises(ImproperlyConfigured):
        keyring.config()
    with override_settings(VAULT_KEK=_b64(os.urandom(16))), pytest.raises(ImproperlyConfigured):
        keyring.config()
    with (
        override_settings(VAULT_KEK="", VAULT_KMS_KEY_ID="", PRODUCTION=True),
        pytest.raises(ImproperlyConfigured),
    ):
        keyring.config()
    with override_settings(VAULT_KEK=""):
        assert keyring.status()["source"] == "development"
    keyring.reset()


def test_kek_rotation_keeps_every_read_working(committed_db, acme, alice, unique):
    """Re-wrap every data key under a new KEK and back while a thread keeps reading."""
    old = _b64(keyring._development_key())
    new = _b64(os.urandom(32))
    with tenant_context(acme):
        secret = services.secret_create(actor=alice.user(), name=f"rotation/{unique}", value="still-readable")
        row = SecretVersion.objects.get(secret=secret)
    stop = threading.Event()
    reads: list[bytes] = []
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            with schema_context("t_acme"):
                while not stop.is_set():
                    keyring.forget_data_keys()  # every read unwraps the data key again
                    try:
                        value = keyring.open_sealed(
                            SecretVersion.objects.get(pk=row.pk).ciphertext,
                            data_key_id=row.data_key_id,
                            secret_id=secret.pk,
                            version=1,
                        )
                        reads.append(value)
                    except Exception as exc:
                        failures.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        time.sleep(0.2)
        with override_settings(VAULT_KEK=f"{new},{old}"):
            moved = keyring.rewrap_all()
            assert moved["t_acme"] >= 1
            with schema_context("t_acme"):
                assert set(DataKey.objects.values_list("kek_id", flat=True)) == {keyring.config().primary.id}
            time.sleep(0.2)
            with override_settings(VAULT_KEK=f"{old},{new}"):
                keyring.rewrap_all()
                time.sleep(0.2)
    finally:
        stop.set()
        thread.join(10)
        keyring.reset()
        with tenant_context(acme):
            services.secret_delete(secret=secret, actor=alice.user())
            services.secret_destroy(secret=Secret.objects.get(pk=secret.pk), actor=alice.user())
    assert failures == []
    assert len(reads) > 10
    assert set(reads) == {b"still-readable"}


@pytest.fixture(scope="module")
def kms_endpoint():
    """moto's KMS as a real HTTP server in a subprocess (a local KMS-compatible endpoint)."""
    import shutil
    import socket
    import subprocess
    import sys

    pytest.importorskip("moto.server", reason="moto[server] is in requirements.txt; install it")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    if shutil.which("moto_server"):
        command = [shutil.which("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # moto imports a lot; the machine may be busy
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("the local KMS server (moto) did not start")
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


def test_kms_wraps_data_keys_and_binds_them_to_the_tenant(kms_endpoint, acme, alice, db, monkeypatch):
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    kms = boto3.client("kms", endpoint_url=kms_endpoint, region_name="us-east-1")
    key_id = kms.create_key(Description="tenantry test KEK")["KeyMetadata"]["KeyId"]
    with (
        override_settings(VAULT_KMS_KEY_ID=key_id, VAULT_KMS_ENDPOINT_URL=kms_endpoint),
        tenant_context(acme),
    ):
        assert keyring.status()["source"] == "kms"
        secret = services.secret_create(actor=alice.user(), name="kms/secret", value="wrapped-by-kms")
        keyring.rewrap_schema()  # a data key made before KMS moves over too
        assert set(DataKey.objects.values_list("kek_id", flat=True)) == {f"kms:{key_id}"}
        keyring.forget_data_keys()
        assert services.secret_reveal(secret=secret, actor=alice.user(), reason="kms") == "wrapped-by-kms"
        data_key = DataKey.objects.get(pk=SecretVersion.objects.get(secret=secret).data_key_id)
        with pytest.raises(keyring.DecryptionFailed):
            keyring._kek_for(data_key.kek_id).unwrap(bytes(data_key.wrapped), schema="t_globex")
    keyring.reset()

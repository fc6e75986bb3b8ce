"""A tenant's schema is renamed (`tenants.services.tenant_schema_rename`): its chain and its
checkpoints, old and new, still verify, in the portal and offline.

A throwaway tenant from the pool (rolled back with the test; the S3 copies stay in the
session's seaweedfs bucket).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context, schema_exists, tenant_context

from compliance import archive, audit, checkpoints
from compliance import services as compliance_services
from compliance.canonical import checkpoint_message
from compliance.models import AuditChainName, AuditCheckpoint, AuditEvent, AuditExport
from compliance.tasks import audit_export_build
from compliance.verification import audit_chain_verify
from tests.compliance.test_exports import _verify_offline


@pytest.fixture
def throwaway(db: Any, platform: Any, unique: str) -> Any:
    from tenants import pool, services

    pool.spare_build()
    return services.tenant_create(
        slug=f"rename-{unique}",
        name="Rename me",
        admin_email=f"owner-{unique}@rename.test",
        admin_password="x" * 16,
    )


def _legacy_checkpoint() -> AuditCheckpoint:
    """A checkpoint as the portal wrote them before stable chain ids: it signs the schema
    name and its copy lives under the schema prefix (`<schema>/audit/checkpoints/…`)."""
    checkpoints.chain_pending()
    head = checkpoints.chain_head()
    schema, signed_at = connection.schema_name, timezone.now()
    key = checkpoints.signing_key()
    message = checkpoint_message(
        chain=schema, seq=head.seq, hash=head.hash, time=checkpoints.time_text(signed_at)
    )
    checkpoint = AuditCheckpoint(
        chain=schema,
        seq=head.seq,
        hash=head.hash,
        signed_at=signed_at,
        kind=AuditCheckpoint.Kind.ON_DEMAND,
        key_id=checkpoints.key_id(checkpoints.public_key_bytes(key.public_key())),
        signature=base64.b64encode(key.sign(message)).decode(),
        storage_name=f"audit/checkpoints/{head.seq:012d}-legacy-{signed_at:%Y%m%dT%H%M%S%f}.json",
    )
    archive.put_once(checkpoint.storage_name, json.dumps(checkpoints.document(checkpoint)).encode())
    checkpoint.save()
    return checkpoint


def test_a_schema_rename_keeps_the_chain_and_its_checkpoints_verifiable(
    throwaway: Any, unique: str, tmp_path: Path
) -> None:
    from tenants.services import tenant_schema_rename

    old_schema, new_schema = throwaway.schema_name, f"t_renamed_{unique}"
    with tenant_context(throwaway):
        for n in range(3):
            audit.record(action="test.before_rename", payload={"n": n})
        legacy = _legacy_checkpoint()
        audit.record(action="test.between", payload={})
        current = checkpoints.checkpoint_create()
        assert current.chain == f"tenant-{throwaway.pk}"
        assert current.storage_name.startswith(f"audit-chains/tenant-{throwaway.pk}/")
        assert audit_chain_verify().ok

    tenant = tenant_schema_rename(tenant=throwaway, new_schema=new_schema, reason="operator test")
    assert tenant.schema_name == new_schema
    assert schema_exists(new_schema)
    assert not schema_exists(old_schema)

    with tenant_context(tenant):
        assert checkpoints.chain_id() == current.chain  # the stable id did not move
        assert AuditChainName.objects.get().name == old_schema
        audit.record(action="test.after_rename", payload={})
        result = audit_chain_verify()
        assert result.ok, result.summary()
        assert result.untrusted_checkpoints == []
        assert result.last_trusted_checkpoint_seq == current.seq
        # Both copies are still read: the legacy one under the old schema prefix.
        assert checkpoints.stored_copy_matches(legacy)
        assert checkpoints.stored_copy_matches(current)
        after = checkpoints.checkpoint_create()
        assert after.chain == current.chain
        result = audit_chain_verify()
        assert result.ok
        assert result.last_trusted_checkpoint_seq == after.seq
        # The rename is in the tenant's own chain, with both names.
        renamed = AuditEvent.objects.get(action="tenant.schema_rename")
        assert renamed.payload["from"] == old_schema
        assert renamed.payload["to"] == new_schema
        tenants_seen = set(AuditEvent.objects.values_list("tenant", flat=True))
        assert {old_schema, new_schema} <= tenants_seen  # events keep the name they were hashed with

        # Offline: an export spanning the rename verifies against the new checkpoint.
        owner = tenant_owner(unique)
        now = timezone.now()
        export = compliance_services.export_request(
            actor=owner, format="jsonl", since=now - dt.timedelta(days=1), until=now + dt.timedelta(minutes=1)
        )
        audit_export_build.apply(args=[export.pk])
        export.refresh_from_db()
        assert export.status == AuditExport.Status.DONE, export.error
        manifest = json.loads(archive.read(export.manifest_name))
        assert manifest["chain"] == current.chain
        ok = _verify_offline(tmp_path, archive.read(export.file_name), manifest["checkpoint"])
        assert ok.returncode == 0, ok.stdout + ok.stderr
        # ...and the legacy checkpoint still anchors the part of the chain it signed.
        ok = _verify_offline(tmp_path, archive.read(export.file_name), checkpoints.document(legacy))
        assert ok.returncode == 0, ok.stdout + ok.stderr

        # What keeps the legacy checkpoint trusted is the recorded former name.
        AuditChainName.objects.all().delete()
        result = audit_chain_verify()
        assert not result.ok
        assert f"signed for chain {old_schema}" in result.reason

    with schema_context("public"):
        assert AuditEvent.objects.filter(action="tenant.schema_rename", target_id=str(tenant.pk)).exists()


def tenant_owner(unique: str) -> Any:
    from portal.accounts.models import User

    return User.objects.get(email=f"owner-{unique}@rename.test")


def test_a_rename_to_a_taken_or_bad_name_is_refused_and_changes_nothing(throwaway: Any) -> None:
    from tenants.services import tenant_schema_rename

    old_schema = throwaway.schema_name
    for bad, message in (
        ("t_acme", "already exists"),
        ("public", "reserved"),
        ("Bad-Name", "lower-case"),
        ("spare_abc", "reserved"),
    ):
        with pytest.raises(ValidationError, match=message):
            tenant_schema_rename(tenant=throwaway, new_schema=bad)
    throwaway.refresh_from_db()
    assert throwaway.schema_name == old_schema
    assert schema_exists(old_schema)


def test_a_checkpoint_of_another_tenant_is_not_trusted_in_mine(
    throwaway: Any, globex: Any, unique: str
) -> None:
    """Mallory's chain cannot borrow the rename allowance: Acme's stable id is not hers."""
    with tenant_context(throwaway):
        audit.record(action="test.mine", payload={})
        foreign = checkpoints.checkpoint_create()
    with tenant_context(globex):
        AuditCheckpoint.objects.create(
            chain=foreign.chain,
            seq=foreign.seq,
            hash=foreign.hash,
            signed_at=foreign.signed_at,
            kind=foreign.kind,
            key_id=foreign.key_id,
            signature=foreign.signature,
            storage_name=foreign.storage_name,
        )
        result = audit_chain_verify()
        assert not result.ok
        assert f"signed for chain {foreign.chain}" in result.reason


def test_a_session_ended_after_a_rename_does_not_come_back_when_renamed_back(
    throwaway: Any, unique: str
) -> None:
    """Cached sessions are keyed by schema. Without dropping the old name's copies, a session
    ended while the schema had its new name would be served again from the cache once the
    schema got its old name back."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import SESSION_KEY

    from portal.accounts.models import User
    from tenants.members.services import sessions_delete
    from tenants.services import tenant_schema_rename

    store = import_module(settings.SESSION_ENGINE).SessionStore
    first = throwaway.schema_name
    with schema_context(first):
        session = store()
        session[SESSION_KEY] = str(User.objects.get(email=f"owner-{unique}@rename.test").pk)
        session.save()  # cached_db: the row and a cached copy under `first`
        key = session.session_key
    tenant = tenant_schema_rename(tenant=throwaway, new_schema=f"moved_{unique}")
    with schema_context(tenant.schema_name):
        assert store(key).get(SESSION_KEY)  # the row moved with the schema
        sessions_delete([key])  # ended under the new name
    tenant = tenant_schema_rename(tenant=tenant, new_schema=first)
    with schema_context(first):
        assert store(key).get(SESSION_KEY) is None
        assert not store().exists(key)


def test_a_renamed_tenants_files_follow_it_and_nobody_elses_move(
    throwaway: Any, mallory: Any, unique: str, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    """Release artifacts, exports, backups and recordings are stored under the schema name:
    after a rename the task moves them, so the tenant still opens them by the same name."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from portal.celery import app
    from tenants.services import tenant_schema_rename

    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the move runs here, for real
    relative = f"exports/report-{unique}.txt"
    old = throwaway.schema_name
    with tenant_context(throwaway):
        name = default_storage.save(relative, ContentFile(b"rename me"))
        nested = default_storage.save(f"deployments/backups/{unique}/db.dump", ContentFile(b"dump"))
        legacy = default_storage.save(f"audit/checkpoints/{unique}.json", ContentFile(b"{}"))
    with tenant_context(mallory.tenant):
        theirs = default_storage.save(relative, ContentFile(b"globex's own"))

    with django_capture_on_commit_callbacks(execute=True):
        tenant = tenant_schema_rename(tenant=throwaway, new_schema=f"moved_{unique}")
    with tenant_context(tenant):
        assert default_storage.open(name).read() == b"rename me"
        assert default_storage.open(nested).read() == b"dump"
    with tenant_context(mallory.tenant):
        assert default_storage.open(theirs).read() == b"globex's own"
    # Nothing else left behind, but checkpoints from before stable chain ids stay where their
    # key (the old schema name) says, as compliance.checkpoints.storage_key reads them.
    left = [
        str(p.relative_to(Path(default_storage.base_location, old)))
        for p in Path(default_storage.base_location, old).rglob("*")
        if p.is_file()
    ]
    assert left == [legacy]


def test_files_move_on_s3_too(audit_s3: dict[str, str], unique: str) -> None:
    """The same move against a real S3 server (seaweedfs): copied, then deleted at the old key."""
    import boto3

    from portal.storage import TenantS3Storage, schema_prefix_move

    storage = TenantS3Storage(
        bucket_name=audit_s3["bucket"],
        endpoint_url=audit_s3["endpoint"],
        access_key="test",
        secret_key="test",
    )
    client = boto3.client(
        "s3", endpoint_url=audit_s3["endpoint"], aws_access_key_id="test", aws_secret_access_key="test",
        region_name="us-east-1",
    )  # fmt: skip
    old, new, other = f"s3old_{unique}", f"s3new_{unique}", f"s3other_{unique}"
    for key in (f"{old}/a.txt", f"{old}/deep/b.txt", f"{other}/a.txt", f"{old}/audit/checkpoints/c.json"):
        client.put_object(Bucket=audit_s3["bucket"], Key=key, Body=key.encode())
    assert schema_prefix_move(old, new, storage=storage) == 2
    keys = {item["Key"] for item in client.list_objects_v2(Bucket=audit_s3["bucket"]).get("Contents", [])}
    assert {f"{new}/a.txt", f"{new}/deep/b.txt", f"{other}/a.txt"} <= keys
    assert {k for k in keys if k.startswith(f"{old}/")} == {f"{old}/audit/checkpoints/c.json"}  # stays
    body = client.get_object(Bucket=audit_s3["bucket"], Key=f"{new}/deep/b.txt")["Body"].read()
    assert body == f"{old}/deep/b.txt".encode()
    with pytest.raises(Exception, match="not a schema name"):
        schema_prefix_move("../etc", new, storage=storage)

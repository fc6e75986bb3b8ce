"""Mallory (Globex) attacks Acme's audit chain: she cannot read, export or verify it —
not over HTTP, not over the API, not through a Celery task, not by storage key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import SuspiciousFileOperation
from django.utils import timezone
from django_tenants.utils import tenant_context

from compliance import archive, audit, services
from compliance.chain import chain_pending
from compliance.models import AuditExport
from compliance.tasks import audit_chain, audit_export_build
from portal.celery import TenantContextMissing
from tests.compliance.s3 import audit_s3, seaweedfs  # noqa: F401

API = "/api/v1/compliance/audit"


@pytest.fixture
def acme_secret_event(db: Any, acme: Any, audit_s3: Any, unique: str) -> str:  # noqa: F811
    marker = f"acme-only-{unique}"
    with tenant_context(acme):
        audit.record(action="vault.secret.reveal", payload={"marker": marker})
        chain_pending()
    return marker


@pytest.fixture
def acme_export(acme: Any, alice: Any, acme_secret_event: str) -> AuditExport:
    with tenant_context(acme):
        now = timezone.now()
        export = services.export_request(
            actor=alice.user(),
            format="jsonl",
            since=now - dt.timedelta(days=1),
            until=now + dt.timedelta(days=1),
        )
        audit_export_build.apply(args=[export.pk])
        export.refresh_from_db()
        assert export.status == AuditExport.Status.DONE
        return export


def test_mallory_cannot_read_acmes_log_over_http_or_api(
    client_for: Any, mallory: Any, alice: Any, acme_secret_event: str
) -> None:
    client = client_for(mallory)
    # Her Globex session means nothing on Acme's host.
    page = client.get("/compliance/audit/", HTTP_HOST=alice.host)
    assert page.status_code == 302
    assert "/accounts/login/" in page["Location"]
    api = client.get(f"{API}/events/", HTTP_HOST=alice.host)
    assert api.status_code in (401, 403)
    # On her own host (a fresh client: Acme's answer replaced the cookie) she sees only Globex's chain.
    client = client_for(mallory)
    own = client.get(f"{API}/events/", {"q": acme_secret_event})
    assert own.status_code == 200
    assert own.json()["results"] == []
    assert acme_secret_event.encode() not in client.get("/compliance/audit/").content


def test_mallory_cannot_verify_or_sign_acmes_chain(
    client_for: Any, mallory: Any, alice: Any, acme_secret_event: str
) -> None:
    client = client_for(mallory)
    assert client.post(f"{API}/verify/", HTTP_HOST=alice.host).status_code in (401, 403)
    assert client.post(f"{API}/checkpoints/", HTTP_HOST=alice.host).status_code in (401, 403)
    mine = client_for(mallory).post(f"{API}/verify/").json()
    assert mine["chain"] == "t_globex"


def test_mallory_cannot_download_acmes_export(
    client_for: Any, mallory: Any, alice: Any, acme_export: AuditExport
) -> None:
    client = client_for(mallory)
    url = f"{API}/exports/{acme_export.pk}/file/"
    assert client.get(url, HTTP_HOST=alice.host).status_code in (401, 403)
    # The same id on her host is looked up in Globex's schema: nothing (or her own export).
    client = client_for(mallory)
    response = client.get(url)
    assert response.status_code in (403, 404) or acme_export.file_name not in response.get(
        "Content-Disposition", ""
    )
    page = client.get(f"/compliance/audit/exports/{acme_export.pk}/file/")
    assert page.status_code == 404


def test_a_task_sent_from_globex_cannot_build_acmes_export(globex: Any, acme_export: AuditExport) -> None:
    with tenant_context(globex):
        result = audit_export_build.apply(args=[acme_export.pk])
    assert isinstance(result.result, AuditExport.DoesNotExist) or result.failed()


def test_a_task_without_a_tenant_fails_closed(platform: Any, db: Any) -> None:
    result = audit_chain.apply()
    assert isinstance(result.result, TenantContextMissing)


def test_storage_keys_are_scoped_to_the_schema(globex: Any, acme_export: AuditExport) -> None:
    with tenant_context(globex):
        assert not archive.exists(acme_export.file_name)
        with pytest.raises(SuspiciousFileOperation):
            archive.read(f"../t_acme/{acme_export.file_name}")

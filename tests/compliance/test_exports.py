"""Exports: every format streams from a server-side cursor; JSON Lines verify offline."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance import archive, audit, services
from compliance.checkpoints import public_key_b64
from compliance.models import AuditExport
from compliance.tasks import audit_export_build

ROOT = Path(__file__).resolve().parents[2]


def _export(alice: Any, fmt: str, **filters: Any) -> AuditExport:
    now = timezone.now()
    export = services.export_request(
        actor=alice.user(),
        format=fmt,
        since=now - dt.timedelta(days=1),
        until=now + dt.timedelta(minutes=1),
        filters=filters,
    )
    audit_export_build.apply(args=[export.pk])
    export.refresh_from_db()
    assert export.status == AuditExport.Status.DONE, export.error
    return export


def _verify_offline(
    tmp_path: Path, export_bytes: bytes, checkpoint: dict[str, Any]
) -> subprocess.CompletedProcess:
    (tmp_path / "export.jsonl").write_bytes(export_bytes)
    (tmp_path / "checkpoint.json").write_text(json.dumps(checkpoint))
    (tmp_path / "pubkey").write_text(public_key_b64())
    return subprocess.run(
        [sys.executable, "-m", "compliance.verify", "export.jsonl", "checkpoint.json", "pubkey"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_jsonl_export_verifies_offline_and_a_flipped_byte_fails(
    in_acme: Any, alice: Any, unique: str, tmp_path: Path
) -> None:
    for n in range(5):
        audit.record(action="test.export", payload={"n": n, "run": unique, "note": "naïve ünïcode"})
    export = _export(alice, "jsonl")
    data = archive.read(export.file_name)
    manifest = json.loads(archive.read(export.manifest_name))
    assert manifest["row_count"] == export.row_count == len(data.splitlines())
    assert manifest["files"]["events.jsonl"]["sha256"] == export.file_sha256
    checkpoint = manifest["checkpoint"]
    assert checkpoint["seq"] == export.last_seq

    ok = _verify_offline(tmp_path, data, checkpoint)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK:")

    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    bad = _verify_offline(tmp_path, bytes(flipped), checkpoint)
    assert bad.returncode == 1
    assert bad.stdout.startswith("FAIL: first bad seq")


def test_offline_verifier_refuses_another_key(in_acme: Any, alice: Any, unique: str, tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    audit.record(action="test.export", payload={"run": unique})
    export = _export(alice, "jsonl")
    manifest = json.loads(archive.read(export.manifest_name))
    (tmp_path / "export.jsonl").write_bytes(archive.read(export.file_name))
    (tmp_path / "checkpoint.json").write_text(json.dumps(manifest["checkpoint"]))
    other = Ed25519PrivateKey.generate().public_key()
    raw = other.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    (tmp_path / "pubkey").write_text(base64.b64encode(raw).decode())
    result = subprocess.run(
        [sys.executable, "-m", "compliance.verify", "export.jsonl", "checkpoint.json", "pubkey"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "signature" in result.stdout


@pytest.mark.parametrize(
    ("fmt", "marker"), [("csv", "seq,time,tenant"), ("cef", "CEF:0|Tenantry|Portal|"), ("syslog", "<110>1 ")]
)
def test_other_formats(in_acme: Any, alice: Any, unique: str, fmt: str, marker: str) -> None:
    audit.record(action="test.export", payload={"run": unique, "formula": "=cmd|' /C calc'!A0"})
    export = _export(alice, fmt, action="test.export")
    text = archive.read(export.file_name).decode()
    assert marker in text
    assert unique in text
    assert export.row_count >= 1


def test_filters_apply_to_the_export(in_acme: Any, alice: Any, unique: str) -> None:
    audit.record(action="test.keep", payload={"run": unique})
    audit.record(action="test.drop", payload={"run": unique})
    export = _export(alice, "jsonl", action="test.keep")
    lines = [json.loads(line) for line in archive.read(export.file_name).splitlines()]
    assert {line["action"] for line in lines} == {"test.keep"}


def test_bad_export_requests_are_refused_clearly(in_acme: Any, alice: Any) -> None:
    now = timezone.now()
    user = alice.user()
    with pytest.raises(ValidationError, match="Unknown format"):
        services.export_request(actor=user, format="xml", since=now - dt.timedelta(days=1), until=now)
    with pytest.raises(ValidationError, match="after its start"):
        services.export_request(actor=user, format="csv", since=now, until=now - dt.timedelta(days=1))
    with pytest.raises(ValidationError, match="Unknown filter"):
        services.export_request(
            actor=user, format="csv", since=now - dt.timedelta(days=1), until=now, filters={"colour": "red"}
        )


def test_a_huge_range_is_streamed_not_refused(in_acme: Any, alice: Any, unique: str) -> None:
    audit.record(action="test.export", payload={"run": unique})
    now = timezone.now()
    export = services.export_request(
        actor=alice.user(),
        format="jsonl",
        since=now - dt.timedelta(days=3000),
        until=now + dt.timedelta(days=1),
    )
    audit_export_build.apply(args=[export.pk])
    export.refresh_from_db()
    assert export.status == AuditExport.Status.DONE

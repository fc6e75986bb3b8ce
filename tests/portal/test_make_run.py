"""`make run` boots web, worker and beat, answers /health/, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("edition", ["saas", "community"])
def test_make_run_serves_health_and_stops_on_ctrl_c(tmp_path, edition):
    parts = urlsplit(os.environ["DATABASE_URL"].replace("postgresql://", "postgres://", 1))
    name = f"tenantry_smoke_{edition}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=urlunsplit(parts._replace(path=f"/{name}")),
        REDIS_KEY_PREFIX=f"smoke-{port}",
        WEB_PORT=str(port),
        TENANT_POOL_SIZE="1",
        WORKER_CONCURRENCY="1",
        PORTAL_VAR_DIR=str(tmp_path),
        LOG_LEVEL="WARNING",
        PORTAL_EDITION=edition,
    )
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.up", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2).status
                break
            except OSError:
                time.sleep(0.5)
        output = (tmp_path / "run.log").read_text()
        assert status == 200, output[-3000:]
        assert "Tenantry is ready" in output
        assert "acme portal  : http://acme.localhost" in output
        if edition == "saas":
            landing = urllib.request.urlopen(
                urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": f"localhost:{port}"}),
                timeout=5,
            )
            assert landing.status == 200
        else:  # the built-in local agent enrols against the single tenant and connects
            while time.monotonic() < deadline and "enrolled as agent" not in output:
                time.sleep(0.5)
                output = (tmp_path / "run.log").read_text()
            assert "enrolled as agent" in output, output[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    output = (tmp_path / "run.log").read_text()
    assert "==> stopped" in output, output[-3000:]
    assert code in (0, 130), output[-3000:]

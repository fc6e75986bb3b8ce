"""Deployment fixtures: a real daphne server, real agent subprocesses, the sample app.

Agents and the server are separate processes, so these tests use `committed_db` and create
uniquely named rows.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django_tenants.utils import tenant_context

from tests.conftest import database_url, free_port, wait_for
from tests.sample_app import build

REPO = Path(__file__).resolve().parents[2]


@dataclass
class PortalServer:
    port: int
    process: subprocess.Popen

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    @property
    def connect_to(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def portal_server(platform: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[PortalServer]:
    with django_db_blocker.unblock():
        url = database_url()
    port = free_port()
    log = (tmp_path_factory.mktemp("daphne") / "daphne.log").open("wb")
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "tests.deployments.server_settings",
        "PORTAL_ENV": "test",
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "STORAGE_ROOT": str(settings.MEDIA_ROOT),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def listening() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_for(listening, timeout=30)
        yield PortalServer(port=port, process=process)
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def deploy_settings(settings: Any) -> Any:
    settings.DEPLOY_HEARTBEAT_SECONDS = 0.5
    settings.DEPLOY_VIEWER_FLUSH_SECONDS = 0.02
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from portal.celery import app

    app.conf.task_always_eager = True
    yield settings
    app.conf.task_always_eager = False


@dataclass
class AgentProcess:
    process: subprocess.Popen
    state_dir: Path
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop_app(self) -> None:
        pidfile = self.state_dir / "app.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


@pytest.fixture
def start_agent(portal_server: PortalServer, tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    started: list[AgentProcess] = []

    def start(
        *, host: str, token: str = "", state_dir: Path | None = None, name: str = "node", connect_to: str = ""
    ) -> AgentProcess:
        state = state_dir or tmp_path / f"agent-{len(started)}"
        state.mkdir(parents=True, exist_ok=True)
        log_path = state.parent / f"{state.name}.{len(started)}.log"
        args = [sys.executable, "-m", "deployments.agent", "--url", portal_server.url(host)]
        args += [
            "--connect-to",
            connect_to or portal_server.connect_to,
            "--state-dir",
            str(state),
            "--name",
            name,
        ]
        if token:
            args += ["--token", token]
        process = subprocess.Popen(args, cwd=REPO, stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
        agent = AgentProcess(process=process, state_dir=state, log_path=log_path)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.kill()
        agent.stop_app()


@pytest.fixture
def deploy_env(committed_db: Any, acme: Any, alice: Any, unique: str) -> Callable[..., Any]:
    """`deploy_env()` → (environment, raw enrolment token) in Acme, APP_PORT set to a free port."""
    from deployments import services

    def make(*, approvals: int = 0, max_uses: int = 1, expires_in: timedelta = timedelta(hours=1)) -> tuple:
        with tenant_context(acme):
            user = alice.user()
            environment = services.environment_create(
                name=f"env-{unique}-{time.monotonic_ns() % 100000}", actor=user, approvals_required=approvals
            )
            services.environment_variable_set(
                environment=environment, name="APP_PORT", value=str(free_port()), actor=user
            )
            _, raw = services.enrollment_token_create(
                environment=environment, actor=user, max_uses=max_uses, expires_in=expires_in
            )
        return environment, raw

    return make


@pytest.fixture
def make_release(committed_db: Any, acme: Any, alice: Any, unique: str) -> Callable[..., Any]:
    from deployments import services

    def make(version: str, *, healthy: bool = True, **manifest_options: Any) -> Any:
        with tenant_context(acme):
            return services.release_create(
                version=f"{version}+{unique}" if "+" not in version else version,
                artifact=ContentFile(build.tarball(version, healthy=healthy), name="app.tar.gz"),
                manifest=build.manifest(**manifest_options),
                actor=alice.user(),
            )

    return make

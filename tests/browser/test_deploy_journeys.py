"""Deploy journeys in chromium: a real agent subprocess enrolled from the page, a deploy whose
log lines arrive live, an automatic rollback, and the web terminal behind step-up MFA.

The live server runs two daphne processes (SERVER_ENV), so the browser's websockets and the
agent's may be served by different processes and meet through the channel layer. It runs
Celery tasks eagerly, so a deploy requested on the page is
dispatched to the agent by the same request, as a worker would do it. The sample app's
migration waits for a "go" file, so the journey starts watching the run before the lines it
checks are written: they can only reach the page over the live socket.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django_tenants.utils import schema_context, tenant_context
from playwright.sync_api import expect

from tests.browser.conftest import BASE_DIR, expect_text
from tests.browser.test_member_journeys import totp_code
from tests.deployments.conftest import AgentProcess, free_port, wait_for
from tests.sample_app import build

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SERVER_ENV = {"CELERY_TASK_ALWAYS_EAGER": "true", "WEB_CONCURRENCY": "2"}


@pytest.fixture
def agents(journey: Any, tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """`agents(command, port=…, name=…)` runs the enrolment command a page showed, as a node would
    (plus --connect-to, because Python does not resolve *.localhost, and a private state dir)."""
    started: list[AgentProcess] = []

    def start(command: str, *, port: int, name: str) -> AgentProcess:
        argv = shlex.split(command)
        assert argv[:3] == ["python", "-m", "deployments.agent"], command
        state = tmp_path / name
        state.mkdir()
        log_path = tmp_path / f"{name}.log"
        args = [sys.executable, *argv[1:], "--connect-to", f"127.0.0.1:{port}", "--state-dir", str(state)]
        process = subprocess.Popen(
            [*args, "--name", name], cwd=BASE_DIR, stdout=log_path.open("wb"), stderr=subprocess.STDOUT
        )
        agent = AgentProcess(process=process, state_dir=state, log_path=log_path)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.kill()
        agent.stop_app()


def _online_agent(acme: Any, name: str, process: AgentProcess) -> Any:
    from deployments.models import Agent

    def online() -> Any:
        assert process.process.poll() is None, f"the agent exited:\n{process.output()[-2000:]}"
        with tenant_context(acme):
            return Agent.objects.filter(name=name, status="online").first()

    return wait_for(online, timeout=30)


def _app_version(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
        return json.loads(response.read())["version"]


def _upload_release(page: Any, server: Any, version: str, *, healthy: bool, manifest: dict) -> None:
    page.goto(server.tenant_url("acme", "/deployments/"))
    page.get_by_role("link", name="Upload a release").click()
    page.get_by_label("Version").fill(version)
    page.get_by_label("Artifact").set_input_files(
        {
            "name": "app.tar.gz",
            "mimeType": "application/gzip",
            "buffer": build.tarball(version, healthy=healthy),
        }
    )
    page.get_by_label("Manifest").fill(json.dumps(manifest, indent=2))
    page.get_by_role("button", name="Upload and sign").click()
    expect(page.locator(".messages")).to_contain_text(f"Release {version} uploaded and signed")


def _deploy_and_watch(page: Any, environment: str, version: str, go: Path) -> None:
    """Deploy from the overview, land on the run view, and release the held migration once the
    view's socket is live."""
    page.get_by_label("Environment", exact=True).select_option(environment)
    page.get_by_label("Release", exact=True).select_option(version)
    page.get_by_role("button", name="Deploy").click()
    page.wait_for_url(re.compile(r".*/deployments/runs/\d+/$"))
    expect(page.locator("[data-log-status]")).to_have_text("live")
    go.touch()
    expect(page.locator("[data-log-lines]")).to_contain_text(
        f"go signal received, finishing the migration to {version}"
    )


def test_alice_enrols_an_agent_deploys_watches_live_logs_and_sees_an_automatic_rollback(
    journey, agents, acme, alice, unique, tmp_path
):
    environment, node, app_port = f"web-{unique}", f"node-{unique}", free_port()
    good, bad = f"1.0.0+{unique}", f"2.0.0+{unique}"
    with journey("deploy-live-logs-rollback") as j:
        page = j.page(alice)
        page.goto(j.server.tenant_url("acme", "/deployments/"))
        page.get_by_role("link", name="Environments").click()
        page.get_by_label("Name").fill(environment)
        page.get_by_role("button", name="Create environment").click()
        expect(page.locator(".messages")).to_contain_text(f"Environment {environment} created")

        page.get_by_label("Name").fill("APP_PORT")
        page.get_by_label("Value").fill(str(app_port))
        page.get_by_role("button", name="Save variable").click()
        expect(page.locator(".messages")).to_contain_text("Variable APP_PORT saved")

        page.get_by_label("Number of agents").fill("1")
        page.get_by_role("button", name="Create enrolment token").click()
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        command = page.locator("#enrol-command").inner_text().strip()
        page.get_by_role("button", name="Copy command").click()
        # The clipboard now holds what Alice pastes on the node (evaluate awaits the promise).
        wait_for(lambda: page.evaluate("navigator.clipboard.readText()").strip() == command, timeout=10)
        assert re.fullmatch(
            rf"python -m deployments\.agent --url http://acme\.localhost:{j.server.port} --token tte_[\w-]+",
            command,
        ), command
        agent = agents(command, port=j.server.port, name=node)
        _online_agent(acme, node, agent)
        page.goto(page.url)  # a reload goes back to the environment page; the token is not shown again
        agents_panel = page.get_by_role("region", name="Agents")
        expect(agents_panel).to_contain_text(node)
        expect(agents_panel).to_contain_text("Online")
        expect(page.locator("body")).not_to_contain_text(command.rsplit(" ", 1)[-1])

        _upload_release(
            page,
            j.server,
            good,
            healthy=True,
            manifest=build.manifest(migrate_wait_for=str(tmp_path / "go-1")),
        )
        _deploy_and_watch(page, environment, good, tmp_path / "go-1")
        expect(page.locator("[data-run-status]")).to_have_text("Succeeded")
        expect(page.locator("[data-run-steps]")).to_contain_text("verify")
        assert _app_version(app_port) == good
        page.reload()  # opened again later, the run view shows the lines stored so far
        expect(page.locator("[data-log-lines]")).to_contain_text(f"finishing the migration to {good}")

        manifest = build.manifest(retries=3, migrate_wait_for=str(tmp_path / "go-2"))
        _upload_release(page, j.server, bad, healthy=False, manifest=manifest)
        _deploy_and_watch(page, environment, bad, tmp_path / "go-2")
        expect(page.locator("[data-run-status]")).to_have_text("Rolled Back")
        expect(page.locator("[data-run-error]")).to_contain_text("health check failed")
        steps = page.locator("[data-run-steps]")
        expect(steps.locator(".step-failed")).to_contain_text("verify")
        expect(steps.locator(".step-succeeded").filter(has_text="rollback")).to_have_count(1)
        assert _app_version(app_port) == good  # the previous release serves again


def test_alice_opens_the_terminal_with_step_up_and_only_allowed_commands_run(
    journey, agents, acme, alice, unique
):
    from deployments import services
    from tests.conftest import persona_totp_device

    node = f"term-{unique}"
    with tenant_context(acme):
        environment = services.environment_create(name=f"ops-{unique}", actor=alice.user())
        _, raw = services.enrollment_token_create(environment=environment, actor=alice.user())
    with schema_context(acme.schema_name):
        key = persona_totp_device(alice.user()).key
    with journey("terminal-step-up") as j:
        url = j.server.tenant_url("acme", "").rstrip("/")
        agent = _online_agent(
            acme,
            node,
            agents(f"python -m deployments.agent --url {url} --token {raw}", port=j.server.port, name=node),
        )
        page = j.page(alice, otp=False)  # signed in with MFA earlier; no fresh step-up
        page.goto(j.server.tenant_url("acme", "/deployments/terminal-commands/"))
        page.get_by_label("Program", exact=True).fill("uname")
        page.get_by_role("button", name="Allow").click()
        expect(page.locator(".messages")).to_contain_text("uname is on the allow-list")

        page.goto(j.server.tenant_url("acme", f"/deployments/agents/{agent.pk}/"))
        page.get_by_role("link", name="Open terminal").click()
        page.get_by_label("One-time code").fill(totp_code(key, steps_ahead=1))
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url(f"**/deployments/agents/{agent.pk}/terminal/")
        screen = page.locator(".xterm-rows")
        expect(screen).to_contain_text(f"Connected to {node}")

        page.locator(".xterm").click()
        page.keyboard.type("uname -s")
        page.keyboard.press("Enter")
        expect(screen).to_contain_text("Linux")
        page.keyboard.type("uname -s; cat secrets.txt")
        page.keyboard.press("Enter")
        expect(screen).to_contain_text("refused: shell syntax is not allowed here")
        page.keyboard.type("rm -r data")
        page.keyboard.press("Enter")
        expect(screen).to_contain_text("rm is not on this tenant's allow-list")
        expect_text(page, "Terminal on")


def test_alice_fixes_a_form_error_and_confirms_destructive_actions_bob_only_reads(
    journey, acme, alice, bob, unique
):
    from deployments import services

    with tenant_context(acme):
        environment = services.environment_create(name=f"setup-{unique}", actor=alice.user())
    path = f"/deployments/environments/{environment.pk}/"
    with journey("deploy-setup-pages") as j:
        j.allow("the server responded with a status of 400")  # the form, re-rendered with its error
        page = j.page(alice)
        page.goto(j.server.tenant_url("acme", path))
        expect(page.get_by_role("region", name="Agents")).to_contain_text("No agent in")
        page.get_by_label("Name").fill("1-bad name")
        page.get_by_label("Value").fill("${vault:prod/db")
        page.get_by_role("button", name="Save variable").click()
        name = page.get_by_label("Name")
        expect(name).to_have_attribute("aria-invalid", "true")
        expect(name).to_be_focused()
        expect(page.locator(".has-error .error").first).to_contain_text("Use letters, digits and underscores")
        name.fill("DATABASE_URL")
        page.get_by_label("Value").fill("${vault:prod/db-url}")
        page.get_by_role("button", name="Save variable").click()
        variables = page.get_by_role("region", name="Variables")
        expect(variables).to_contain_text("${vault:prod/db-url}")
        expect(variables).to_contain_text("no such secret: a deploy here would be refused")

        page.get_by_role("button", name="Remove DATABASE_URL").click()
        dialog = page.locator("#confirm-dialog")
        expect(dialog).to_contain_text("Remove DATABASE_URL from")
        dialog.get_by_role("button", name="Cancel").click()
        expect(variables).to_contain_text("DATABASE_URL")  # nothing happened
        page.get_by_role("button", name="Remove DATABASE_URL").click()
        dialog.get_by_role("button", name="Yes, continue").click()
        expect(page.locator(".messages")).to_contain_text("Variable DATABASE_URL removed")

        page.get_by_role("button", name="Create enrolment token").click()
        prefix = page.locator("#enrol-token").input_value()[:10]
        page.goto(j.server.tenant_url("acme", path))
        page.get_by_role("button", name=f"Revoke token {prefix}").click()
        dialog.get_by_role("button", name="Yes, continue").click()
        expect(page.locator(".messages")).to_contain_text(f"Enrolment token {prefix}… revoked")
        expect(page.get_by_role("region", name="Enrolment tokens")).to_contain_text("revoked")

        reader = j.page(bob)
        for url in ("/deployments/environments/", path, "/deployments/terminal-commands/"):
            reader.goto(j.server.tenant_url("acme", url))
            expect(reader.get_by_role("heading", level=1)).to_be_visible()
            expect(reader.locator("main form")).to_have_count(0)  # a developer only reads these

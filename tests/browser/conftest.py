"""Browser journeys: a live daphne server on the test database, driven by Debian's chromium.

- The server is a real subprocess (`python -m portal.web`, as `make run` serves) on a free port, pointed
  at this test process's database and Redis database, with PORTAL_DOMAIN=localhost, so
  `<slug>.localhost:<port>` reaches a tenant (Chromium resolves *.localhost to 127.0.0.1).
- Data the server must see is committed (`committed_db`), never `transactional_db`.
- Every page records console errors, page errors and CSP violations; a journey fails if
  any appear. Each journey saves a screenshot to var/screenshots/ and prints its time.
- No chromium at /usr/bin/chromium: the journeys are skipped loudly, unless
  TENANTRY_REQUIRE_BROWSER=1 (CI), where that is a failure. A browser is never downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.conftest import database_url, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
BASE_DIR = Path(settings.BASE_DIR)
SCREENSHOTS = BASE_DIR / "var" / "screenshots"
LOGS = BASE_DIR / "var" / "browser-logs"

# Reported when a CSP violation happens, even where the browser logs nothing to the console.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + (e.sourceFile || document.location.href) + ":" + e.lineNumber);
});
"""


def _require_chromium() -> None:
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = (
        f"!!! BROWSER TESTS SKIPPED: {CHROMIUM} is missing. Install Debian's chromium "
        "(apt-get install chromium, or `make browsers` as root). No browser is ever downloaded. !!!"
    )
    if os.environ.get("TENANTRY_REQUIRE_BROWSER") == "1":
        pytest.fail(reason.replace("SKIPPED", "REQUIRED (TENANTRY_REQUIRE_BROWSER=1)"), pytrace=False)
    print("\n" + reason, file=sys.stderr)
    pytest.skip(reason)


class LiveServer:
    def __init__(self, port: int, process: subprocess.Popen[bytes], log: Path, mail_dir: Path) -> None:
        self.port, self.process, self.log, self.mail_dir = port, process, log, mail_dir

    def mailbox(self) -> str:
        """Every email the server sent so far (Django's file backend, one file per connection)."""
        return "\n".join(path.read_text() for path in sorted(self.mail_dir.glob("*.log")))

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"http://{host or settings.PORTAL_DOMAIN}:{self.port}{path}"

    def tenant_url(self, slug: str, path: str = "/") -> str:
        return self.url(path, f"{slug}.{settings.PORTAL_DOMAIN}")


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not answer {url} within {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def portal_server(platform: Any, request: Any) -> Iterator[LiveServer]:
    """daphne with the real ASGI app, against this process's test database."""
    _require_chromium()
    if settings.PORTAL_DOMAIN != "localhost":
        pytest.skip("browser journeys need PORTAL_DOMAIN=localhost (Chromium resolves *.localhost)")
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    module = request.module.__name__.rsplit(".", 1)[-1]
    log = LOGS / f"daphne-{worker}-{module}.log"
    mail_dir = LOGS / f"mail-{worker}-{module}"
    shutil.rmtree(mail_dir, ignore_errors=True)
    mail_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX,
        PORTAL_DOMAIN="localhost",
        WEB_PORT=str(port),
        WEB_BIND="127.0.0.1",
        PORTAL_ENV="test",
        DEBUG="false",
        AXES_ENABLED="false",
        LOG_FORMAT="plain",
        LOG_LEVEL="WARNING",
        # Four slashes: django-environ drops the first "/" of the path (an absolute path stays absolute).
        EMAIL_URL=f"filemail:///{mail_dir}",  # the journeys read invitations from here
    )
    env.update(getattr(request.module, "SERVER_ENV", {}))  # a module's extra settings, e.g. eager Celery
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "portal.web"],  # as `make run` serves
            cwd=BASE_DIR,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(f"http://127.0.0.1:{port}/health/", process, log, timeout=90.0)
        yield LiveServer(port, process, log, mail_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser(portal_server: LiveServer) -> Iterator[Any]:
    """Module-scoped on purpose: Playwright's sync API keeps an event loop running in this
    thread, which makes Django refuse ORM calls ("async context"). The journeys' own ORM calls
    are plain sync code, so the check is lifted only while the browser lives, and the loop is
    gone before the next test module on this worker runs."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Problems(list):
    """Console errors, page errors and CSP violations seen by every page of a journey."""

    allowed: tuple[str, ...] = ()

    def append(self, item: str) -> None:
        if not any(text in item for text in self.allowed):
            super().append(item)

    def _request_failed(self, request: Any) -> None:
        # ERR_ABORTED: the page navigated on before a sub-resource (e.g. the favicon) arrived.
        if request.failure and "ERR_ABORTED" not in request.failure:
            self.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def watch(self, page: Any) -> Any:
        page.on("console", lambda msg: msg.type == "error" and self.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: self.append(f"pageerror: {exc}"))
        page.on("requestfailed", self._request_failed)
        return page


@pytest.fixture
def journey(browser: Any, portal_server: LiveServer, committed_db: None, request: Any) -> Iterator[Any]:
    """`with journey("name") as j:` → j.page(persona=None), j.server; screenshot + time + clean log."""
    contexts: list[Any] = []
    problems = Problems()

    class Journey:
        server = portal_server

        def allow(self, *texts: str) -> None:
            """Expected console noise, e.g. the 400 of a form re-rendered with its errors."""
            problems.allowed = (*problems.allowed, *texts)

        def page(
            self, persona: Any = None, *, viewport: dict[str, int] | None = None, otp: bool = True
        ) -> Any:
            """A new browser context; with a persona, signed in (`otp=False`: MFA done at sign-in,
            but no fresh step-up, so step-up pages ask for a code)."""
            context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
            # Generous: CI machines are shared; a journey that is merely slow must not flake.
            context.set_default_timeout(30_000)
            context.set_default_navigation_timeout(30_000)
            context.add_init_script(CSP_LISTENER)
            if persona is not None:
                from tests.conftest import session_for

                host = persona.host.split(":")[0]
                context.add_cookies(
                    [
                        {
                            "name": settings.SESSION_COOKIE_NAME,
                            "value": session_for(persona, otp=otp),
                            "url": f"http://{host}:{portal_server.port}",
                        }
                    ]
                )
            contexts.append(context)
            return problems.watch(context.new_page())

    @contextmanager
    def run(name: str) -> Iterator[Journey]:
        started = time.perf_counter()
        j = Journey()
        try:
            yield j
        finally:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            for index, context in enumerate(contexts):
                for number, page in enumerate(context.pages):
                    suffix = "" if index == number == 0 else f"-{index}{number}"
                    page.screenshot(path=str(SCREENSHOTS / f"{name}{suffix}.png"), full_page=True)
            elapsed = time.perf_counter() - started
            print(f"\njourney {name}: {elapsed:.1f} s")
            request.node.user_properties.append(("journey_seconds", round(elapsed, 1)))
        assert not problems, "the browser logged problems:\n" + "\n".join(problems)

    yield run
    for context in contexts:
        context.close()


def expect_text(page: Any, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("body")).to_contain_text(text)

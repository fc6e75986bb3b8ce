"""Shared fixtures: the platform, two tenants, and four personas.

- Alice (owner/admin) and Bob (developer) belong to tenant **Acme**.
- Mallory (owner/admin) belongs to tenant **Globex** and attacks Acme in tests/isolation/.
- Oscar is the platform operator (public-schema staff user).

The tenants are created once per xdist worker (session scope) through the real
provisioning path (the pool), so the suite stays fast. Each test then runs in a
transaction that is rolled back. Tests whose data must be visible to other threads or
processes (websockets, live servers, Celery workers) use `committed_db` instead and
create uniquely named rows; they must not use pytest-django's `transactional_db`,
whose flush would wipe the session tenants.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context, tenant_context

PASSWORD = "correct-horse-battery-staple"


@dataclass(frozen=True)
class Persona:
    name: str
    email: str
    role: str
    schema_name: str  # "public" for Oscar
    host: str

    @property
    def tenant(self) -> Any:
        from tenants.models import Tenant

        return Tenant.objects.get(schema_name=self.schema_name)

    def user(self) -> Any:
        from portal.accounts.models import User

        with schema_context(self.schema_name):
            return User.objects.get(email=self.email)


def _host(slug: str | None) -> str:
    return f"{slug}.{settings.PORTAL_DOMAIN}" if slug else settings.PORTAL_DOMAIN


@pytest.fixture(scope="session")
def django_db_setup(
    request: Any,
    django_test_environment: None,
    django_db_blocker: Any,
    django_db_keepdb: bool,
    django_db_modify_db_settings: None,
) -> Iterator[None]:
    """Always create the default test database.

    pytest-django only creates the databases that collected tests declare through `db`,
    `transactional_db` or the marker; a session whose tests only use `committed_db` would
    otherwise run against the development database name.
    """
    from django.test.utils import setup_databases, teardown_databases

    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=verbosity, interactive=False, keepdb=django_db_keepdb, aliases={"default"}
        )
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock():
            teardown_databases(config, verbosity=verbosity)


@pytest.fixture(scope="session")
def platform(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """Public tenant, plans, a warm pool, Acme and Globex with their members, and Oscar."""
    from portal.accounts.models import User
    from tenants import pool, services
    from tenants.members.services import member_create
    from tenants.models import Tenant

    with django_db_blocker.unblock():
        services.public_tenant_ensure()
        services.plans_ensure_defaults()
        pool.pool_refill(2)
        tenants = {}
        for slug, name, owner in (
            ("acme", "Acme Corp", "alice@acme.test"),
            ("globex", "Globex", "mallory@globex.test"),
        ):
            tenants[slug] = Tenant.objects.filter(slug=slug).first() or services.tenant_create(
                slug=slug, name=name, admin_email=owner, admin_password=PASSWORD, status=Tenant.Status.ACTIVE
            )
        with tenant_context(tenants["acme"]):
            if not User.objects.filter(email="bob@acme.test").exists():
                member_create(email="bob@acme.test", role="developer", password=PASSWORD)
        with schema_context("public"):
            if not User.objects.filter(email="oscar@tenantry.test").exists():
                User.objects.create_superuser("oscar@tenantry.test", PASSWORD)
        connection.set_schema_to_public()
    yield tenants
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        # Threads of async tests and live servers may still hold connections; the test
        # database can only be dropped once they are gone.
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def acme(platform: dict[str, Any]) -> Any:
    return platform["acme"]


@pytest.fixture(scope="session")
def globex(platform: dict[str, Any]) -> Any:
    return platform["globex"]


@pytest.fixture(scope="session")
def alice(platform: dict[str, Any]) -> Persona:
    return Persona("Alice", "alice@acme.test", "owner", "t_acme", _host("acme"))


@pytest.fixture(scope="session")
def bob(platform: dict[str, Any]) -> Persona:
    return Persona("Bob", "bob@acme.test", "developer", "t_acme", _host("acme"))


@pytest.fixture(scope="session")
def mallory(platform: dict[str, Any]) -> Persona:
    return Persona("Mallory", "mallory@globex.test", "owner", "t_globex", _host("globex"))


@pytest.fixture(scope="session")
def oscar(platform: dict[str, Any]) -> Persona:
    return Persona("Oscar", "oscar@tenantry.test", "", "public", _host(None))


@pytest.fixture(autouse=True)
def _clean_context() -> Iterator[None]:
    """Every test starts and ends on the public schema with cold process-local caches
    (routing, policies), and with this process's cache listener already subscribed: it clears
    every cache when it (re)subscribes, which must not happen in the middle of a test."""
    from portal import invalidation

    invalidation.listener_start()
    assert invalidation.subscribed.wait(10), "the local cache listener did not subscribe to Redis"
    invalidation.clear_all()
    yield
    invalidation.clear_all()
    connection.set_schema_to_public()


@pytest.fixture
def committed_db(platform: dict[str, Any], django_db_blocker: Any) -> Iterator[None]:
    """Database access without a wrapping transaction: writes are committed at once.

    Afterwards, the rows the test added to Acme's and Globex's schemas are deleted again, so
    the next test in this worker sees the tenants as the session made them. Audit tables are
    left alone: the chain is append-only by design and must stay verifiable.
    """
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        marks = _row_marks()
        try:
            yield
        finally:
            connection.set_schema_to_public()
            _delete_rows_after(marks)
            connection.set_schema_to_public()


_KEEP_TABLES = ("compliance_", "django_migrations", "django_content_type", "auth_permission")


def _row_marks() -> dict[tuple[str, str], int]:
    """The highest `id` of every table with an integer id in the persona tenants' schemas."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_schema, c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema IN ('t_acme', 't_globex') AND c.column_name = 'id' "
            "AND c.data_type IN ('bigint', 'integer') AND t.table_type = 'BASE TABLE'"
        )
        tables = [row for row in cursor.fetchall() if not row[1].startswith(_KEEP_TABLES)]
        if not tables:
            return {}
        cursor.execute(
            " UNION ALL ".join(
                f"SELECT '{schema}', '{table}', COALESCE(MAX(id), 0) FROM \"{schema}\".\"{table}\""
                for schema, table in tables
            )
        )
        return {(schema, table): high for schema, table, high in cursor.fetchall()}


def _delete_rows_after(marks: dict[tuple[str, str], int]) -> None:
    if not marks:
        return
    with connection.cursor() as cursor:
        # Foreign keys would dictate an order; as superuser in the test database we skip
        # their triggers for this one clean-up instead.
        cursor.execute("SET session_replication_role = replica")
        try:
            for (schema, table), high in marks.items():
                cursor.execute(f'DELETE FROM "{schema}"."{table}" WHERE id > %s', [high])
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
    # Per-process caches may still point at the deleted rows.
    from portal import invalidation
    from vault.keyring import forget_data_keys

    forget_data_keys()
    invalidation.clear_all()


def database_url() -> str:
    """A URL of the test database for processes the tests start (servers, agents): TCP, or the
    embedded PostgreSQL's unix socket directory as `?host=`."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or ""
    if host.startswith("/"):  # unix socket (embedded postgres)
        return f"postgres://{user}{password}@/{db['NAME']}?host={quote(host, safe='')}"
    return f"postgres://{user}{password}@{host or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def announce_from_another_process(name: str) -> None:
    """What a change committed in another process does: announce the named cache's change."""
    env = dict(os.environ, REDIS_URL=settings.REDIS_URL, REDIS_KEY_PREFIX=settings.REDIS_KEY_PREFIX)
    env.pop("PYTEST_XDIST_WORKER", None)
    script = (
        "import django; django.setup(); from portal import invalidation; "
        f"invalidation.publish({name!r}, stale_for=0)"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env=dict(env, DJANGO_SETTINGS_MODULE="portal.settings"),
        check=True,
        timeout=120,
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy and return its value; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {getattr(predicate, '__name__', predicate)}"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for test servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session_for(persona: Persona, *, otp: bool = True) -> str:
    """Create a committed, logged-in session for `persona` in its schema; return the key."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    engine = import_module(settings.SESSION_ENGINE)
    user = persona.user()
    with schema_context(persona.schema_name):
        session = engine.SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "portal.accounts.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        if otp:
            mark_session_otp_verified(session, user)
        else:
            mark_session_signed_in_with_mfa(session, user)
        session.save()
        return session.session_key


def persona_totp_device(user: Any) -> Any:
    """The persona's authenticator app (created on first use, in the current schema)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="persona", defaults={"confirmed": True})
    return device


def mark_session_otp_verified(session: Any, user: Any) -> None:
    """Mark a persona's session as OTP-verified just now (MFA step-up satisfied)."""
    from tenants.members.mfa import session_mark_verified

    session_mark_verified(session, user, persona_totp_device(user))


def mark_session_signed_in_with_mfa(session: Any, user: Any) -> None:
    """Signed in with MFA earlier, but no fresh OTP: step-up is NOT satisfied (`otp=False`)."""
    from tenants.members.mfa import session_mark_signed_in

    session_mark_signed_in(session, persona_totp_device(user))


@pytest.fixture
def client_for(db: Any, platform: dict[str, Any]) -> Any:
    """`client_for(alice)` → a Django test client signed in as Alice on Acme's host."""

    def make(persona: Persona, *, otp: bool = True) -> Client:
        client = Client(HTTP_HOST=persona.host)
        client.cookies[settings.SESSION_COOKIE_NAME] = session_for(persona, otp=otp)
        return client

    return make


@pytest.fixture
def anon_client(db: Any, platform: dict[str, Any]) -> Any:
    def make(host: str | None = None) -> Client:
        return Client(HTTP_HOST=host or settings.PORTAL_DOMAIN)

    return make


@pytest.fixture
def unique() -> str:
    return secrets.token_hex(4)

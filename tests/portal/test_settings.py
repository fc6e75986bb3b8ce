"""Production refuses to start without its required variables, and names them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _django_setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "VAULT_KEK", "PORTAL_DOMAIN"}
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="portal.settings", PORTAL_VAR_DIR="/nonexistent")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_names_every_missing_variable():
    result = _django_setup({"PORTAL_ENV": "production", "SECRET_KEY": "s" * 50})
    assert result.returncode != 0
    assert "DATABASE_URL, REDIS_URL, PORTAL_DOMAIN, VAULT_KEK" in result.stderr
    assert "SECRET_KEY" not in result.stderr.split("needs these environment variables:")[1]


def test_production_starts_when_everything_is_set(tmp_path):
    secret = tmp_path / "secret_key"
    secret.write_text("k" * 50)
    result = _django_setup(
        {
            "PORTAL_ENV": "production",
            "SECRET_KEY_FILE": str(secret),  # Docker-secrets style
            "DATABASE_URL": "postgres://u@db:5432/tenantry",
            "REDIS_URL": "redis://redis:6379/0",
            "PORTAL_DOMAIN": "tenantry.example.com",
            "VAULT_KEK": "a" * 44,
        }
    )
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_unknown_edition_is_refused():
    result = _django_setup({"PORTAL_EDITION": "enterprise"})
    assert result.returncode != 0
    assert "PORTAL_EDITION must be 'saas' or 'community'" in result.stderr


def test_production_security_headers(settings):
    # The values production uses, read from the same settings module.
    from portal import settings as portal_settings

    assert portal_settings.X_FRAME_OPTIONS == "DENY"
    assert portal_settings.SESSION_COOKIE_HTTPONLY is True
    directives = portal_settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    assert "'unsafe-inline'" not in directives["script-src"]

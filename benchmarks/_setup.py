"""Shared set-up for benchmark scripts: a throwaway database, Django, percentiles.

Each benchmark runs against its own database (created from DATABASE_URL's server and
dropped at the end), so it never touches the data of `make run`.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def throwaway_database(name: str) -> str:
    """Point DATABASE_URL at a fresh database `name` on the same server; return its URL."""
    import psycopg

    base = os.environ.get("DATABASE_URL")
    if not base:
        sys.exit("DATABASE_URL is not set: run me as `python -m portal.up exec -- python benchmarks/<x>.py`")
    parts = urlsplit(base.replace("postgresql://", "postgres://", 1))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(parts._replace(path=f"/{name}"))
    os.environ["DATABASE_URL"] = url
    return url


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_setup(prefix: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ["REDIS_KEY_PREFIX"] = f"bench-{prefix}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):8.2f}  p95 {percentile(values, 95):8.2f}  "
        f"max {max(values):8.2f}  (n={len(values)})"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def emit(result: dict[str, object]) -> None:
    print(json.dumps(result), flush=True)

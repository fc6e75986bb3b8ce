"""Instructions per reveal, counted by valgrind: a figure that a noisy machine cannot move.

    python -m portal.up exec -- .venv/bin/python benchmarks/vault_instructions.py [--base REV]

`benchmarks/vault.py` times reveals over HTTP, and on a shared 2-core machine the same code
gives p95s 30 % apart from one minute to the next. This counts the CPU instructions that
the Django process executes per reveal (`POST /api/v1/vault/secrets/<id>/reveal/` through the
WSGI handler, in process: middleware, DRF, policies, decrypt, audit INSERT, and the audit
chainer thread's share), which is the same from run to run within about 1 %. PostgreSQL's
and Redis's own work is not counted.

For each tree (this checkout, and `--base`'s in a git worktree under `var/`): a fixture in a
throwaway database (Acme, an operator with a fresh step-up session, one secret), then the
process is run under `valgrind --tool=callgrind` twice, with 50 and with 350 reveals; the
difference divided by 300 is the cost of one reveal, start-up excluded. The two trees run
side by side (one core each). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
# The tree whose code a child process runs (this script is run from this checkout for both).
TREE = Path(os.environ.get("BENCH_TREE", ROOT))
FEW, MANY = 50, 350


def _setup(fixture: Path) -> None:
    """In the tree being measured: a database with Acme, the operator's session and a secret."""
    from _setup import django_setup, throwaway_database

    url = throwaway_database(os.environ["BENCH_INSTR_DB"])
    django_setup("vault")
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import tenant_context

    from tenants import pool, services

    vault_bench = _load_vault_benchmark()
    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    services.public_tenant_ensure()
    pool.pool_refill(1)
    tenant = services.tenant_create(slug="acme", name="Acme", status="active")
    with tenant_context(tenant):
        made = vault_bench.make_fixture()
    connection.close()
    fixture.write_text(json.dumps({"url": url, **made._asdict()}))


def _load_vault_benchmark() -> object:
    """benchmarks/vault.py of this tree (its name would shadow the `vault` app on sys.path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("vault_benchmark", TREE / "benchmarks" / "vault.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _reveals(fixture: Path, count: int) -> None:
    """Django's WSGI handler called `count` times with the fixture's reveal request."""
    from _setup import django_setup

    made = json.loads(fixture.read_text())
    os.environ["DATABASE_URL"] = made["url"]
    django_setup("vault")
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    body = json.dumps({"reason": "benchmark"}).encode()
    cookies = {settings.SESSION_COOKIE_NAME: made["session_key"], settings.CSRF_COOKIE_NAME: made["csrf"]}
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    status: list[str] = []
    for _ in range(count):
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": f"/api/v1/vault/secrets/{made['secret_id']}/reveal/",
            "SERVER_NAME": "acme.localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "acme.localhost",
            "HTTP_COOKIE": cookie,
            "HTTP_X_CSRFTOKEN": made["csrf"],
            "HTTP_REFERER": "http://acme.localhost/",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        status.clear()
        b"".join(app(environ, lambda line, headers: status.append(line)))
        if not status[0].startswith("200"):
            raise SystemExit(f"a reveal answered {status[0]}")


def _env(tree: Path, index: int) -> dict[str, str]:
    """A tree's environment: its own Redis database (both trees name their keys alike, and a
    data key or policy set cached by one must never be read by the other)."""
    from portal import redis_url

    url = os.environ.get("REDIS_URL", "")
    return dict(
        os.environ,
        BENCH_TREE=str(tree),
        REDIS_URL=redis_url.with_db(url, (redis_url.db_of(url) + index) % 16),
        API_THROTTLE_USER="10000000/min",
        LOG_LEVEL="ERROR",
        DEBUG="false",
    )


def _counted(tree: Path, index: int, fixture: Path, count: int, out: Path) -> int:
    """Instructions executed by a process of `tree` that makes `count` reveals."""
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(HERE),
        "--reveals",
        str(count),
        str(fixture),
    ]
    subprocess.run(command, cwd=tree, env=_env(tree, index), check=True, capture_output=True)
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise SystemExit(f"no summary in {out}")


def _database(index: int) -> str:
    """The fixture database of tree `index` (named here, so it is dropped even if set-up fails)."""
    return f"tenantry_bench_instr_{os.getpid()}_{index}"


def _fixture(tree: Path, index: int, work: Path) -> Path:
    fixture = work / f"tree{index}.json"
    subprocess.run(
        [sys.executable, str(HERE), "--setup", str(fixture)],
        cwd=tree,
        env=dict(_env(tree, index), BENCH_INSTR_DB=_database(index)),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return fixture


def _per_reveal(tree: Path, index: int, fixture: Path) -> int:
    few = _counted(tree, index, fixture, FEW, fixture.with_suffix(".few.out"))
    many = _counted(tree, index, fixture, MANY, fixture.with_suffix(".many.out"))
    return (many - few) // (MANY - FEW)


def _worktree(rev: str) -> Path:
    """`rev` checked out under var/ (made once, moved to `rev` each run), sharing .venv and
    the front-end assets of this checkout."""
    path = ROOT / "var" / "bench-base-tree"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True)
    subprocess.run(["git", "checkout", "--quiet", "--detach", rev], cwd=path, check=True)
    vendor = path / "static" / "vendor"
    if not vendor.exists():
        vendor.symlink_to(ROOT / "static" / "vendor")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", help="a git revision to compare with (e.g. HEAD~3)")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("DATABASE_URL is not set: run me as `python -m portal.up exec -- python benchmarks/<x>.py`")
    if shutil.which("valgrind") is None:  # `make bench` runs every script: say so, don't fail
        print("SKIPPED: valgrind is not installed (Debian: apt-get install -y valgrind)")
        print(json.dumps({"skipped": "valgrind is not installed"}))
        return
    trees = {"this checkout": ROOT}
    if args.base:
        trees[f"base {args.base}"] = _worktree(args.base)
    from _setup import drop_database

    server = urlsplit(os.environ["DATABASE_URL"])
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fixtures = [_fixture(tree, index, Path(tmp)) for index, tree in enumerate(trees.values())]
            with ThreadPoolExecutor(len(trees)) as pool:  # counting is slow: one tree per core
                futures = [
                    pool.submit(_per_reveal, tree, index, fixtures[index])
                    for index, tree in enumerate(trees.values())
                ]
                counts = dict(zip(trees, (future.result() for future in futures), strict=True))
        finally:
            for index in range(len(trees)):
                drop_database(urlunsplit(server._replace(path=f"/{_database(index)}")))
    for label, count in counts.items():
        print(f"{label:>24}: {count / 1e6:6.2f} M instructions per reveal")
    result: dict[str, object] = {"instructions_per_reveal": counts["this checkout"]}
    if args.base:
        base = counts[f"base {args.base}"]
        result["base_instructions_per_reveal"] = base
        result["ratio_vs_base"] = round(counts["this checkout"] / base, 3)
        print(f"ratio vs base: {result['ratio_vs_base']}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.path[0] = str(TREE / "benchmarks")  # that tree's _setup, which puts its root first
    if len(sys.argv) == 3 and sys.argv[1] == "--setup":
        _setup(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "--reveals":
        _reveals(Path(sys.argv[3]), int(sys.argv[2]))
    else:
        main()

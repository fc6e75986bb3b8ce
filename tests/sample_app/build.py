"""Build sample-app release tarballs and manifests for the deploy tests."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def tarball(version: str, *, healthy: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(HERE / "app.py", arcname="app.py")
        info = json.dumps({"version": version, "healthy": healthy}).encode()
        member = tarfile.TarInfo("release.json")
        member.size = len(info)
        archive.addfile(member, io.BytesIO(info))
    return buffer.getvalue()


def manifest(
    *, migrate_sleep: float = 0, migrate_fail: bool = False, retries: int = 10, migrate_wait_for: str = ""
) -> dict:
    migrate = ["{python}", "app.py", "migrate", "--data", "{data_dir}"]
    if migrate_sleep:
        migrate += ["--sleep", str(migrate_sleep)]
    if migrate_wait_for:
        migrate += ["--wait-for", migrate_wait_for]
    if migrate_fail:
        migrate += ["--fail"]
    pidfile = "{state_dir}/app.pid"
    return {
        "commands": {
            "backup": ["{python}", "app.py", "backup", "--data", "{data_dir}", "--to", "{backup_path}"],
            "restore": ["{python}", "app.py", "restore", "--data", "{data_dir}", "--from", "{backup_path}"],
            "stop": ["{python}", "app.py", "stop", "--pidfile", pidfile],
            "migrate": migrate,
            "start": ["{python}", "app.py", "serve", "--port", "{APP_PORT}", "--pidfile", pidfile],
        },
        "health_check": {"url": "http://127.0.0.1:{APP_PORT}/health", "retries": retries, "interval": 0.2},
    }

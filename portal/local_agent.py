"""The community edition's built-in local agent (`agent` in Procfile.community).

`portal_bootstrap` (community edition) creates the environment `local` in the single
tenant and writes a one-time enrolment token to var/local-agent.env. This runner waits for
the web process, then runs the ordinary node agent (`deployments.agent`) against it: it
enrols once, keeps its Ed25519 identity in var/local-agent/, and reconnects from then on.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from pathlib import Path

VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
ENV_FILE = VAR_DIR / "local-agent.env"
STATE_DIR = VAR_DIR / "local-agent"


def _settings() -> dict[str, str]:
    values: dict[str, str] = {}
    if ENV_FILE.is_file():
        for line in ENV_FILE.read_text().splitlines():
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _wait_for_web(port: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2)
            return
        except OSError:
            time.sleep(1)


def main() -> int:
    from deployments.agent.__main__ import main as agent_main

    values = _settings()
    if "URL" not in values:
        print("local agent: no var/local-agent.env (run portal_bootstrap in the community edition)")
        return 0
    port = os.environ.get("WEB_PORT", "8000")
    _wait_for_web(port)
    argv = ["--url", values["URL"], "--connect-to", f"127.0.0.1:{port}", "--state-dir", str(STATE_DIR)]
    argv += ["--name", "local"]
    if values.get("TOKEN") and not (STATE_DIR / "identity.json").exists():
        argv += ["--token", values["TOKEN"]]
    return agent_main(argv)


if __name__ == "__main__":
    sys.exit(main())

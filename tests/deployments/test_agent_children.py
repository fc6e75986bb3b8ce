"""The agent reaps the app it starts detached, so a stopped app never lingers as a zombie that a
manifest's `kill -0 $pid` stop command would take for a running one. No Django needed."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from deployments.agent.deployer import Deployer


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None  # gone: reaped


def test_a_detached_app_that_exits_is_reaped(tmp_path: Path, monkeypatch: Any) -> None:
    deployer = Deployer(state_dir=tmp_path, conn=None, url="http://unused", connect_to=None)  # type: ignore[arg-type]
    pidfile = tmp_path / "app.pid"
    script = f"import os; open({str(pidfile)!r}, 'w').write(str(os.getpid()))"
    deployer._start_detached([sys.executable, "-c", script], context={}, cwd=tmp_path)
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "the app never started"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    while _state(pid) is not None:
        assert time.monotonic() < deadline, f"pid {pid} is still there in state {_state(pid)!r} (a zombie)"
        time.sleep(0.05)

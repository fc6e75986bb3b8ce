"""`python -m portal.web`: several daphne processes on one socket, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _start(concurrency: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = dict(os.environ, WEB_CONCURRENCY=concurrency, WEB_BIND="127.0.0.1", WEB_PORT=str(port))
    env.pop("PYTEST_XDIST_WORKER", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.web"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=1) as response:
                if response.status == 200:
                    return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("portal.web did not answer /health/")


def test_two_processes_share_the_port_and_stop_together_on_sigterm():
    process, port = _start("2")
    try:
        children = _children(process.pid)
        assert len(children) == 2
        for _ in range(20):  # every connection is answered, whichever process takes it
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=5) as response:
                assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        for pid in children:
            deadline = time.monotonic() + 5
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not Path(f"/proc/{pid}").exists(), f"daphne {pid} outlived the web process"
    finally:
        if process.poll() is None:
            process.kill()


def test_a_child_that_dies_takes_the_web_process_down_with_it():
    """A process manager must see the failure, not a web process at half strength."""
    process, _ = _start("2")
    try:
        first, second = _children(process.pid)
        os.kill(first, signal.SIGKILL)
        assert process.wait(timeout=20) != 0
        deadline = time.monotonic() + 5
        while Path(f"/proc/{second}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{second}").exists()
    finally:
        if process.poll() is None:
            process.kill()


def test_a_bad_concurrency_is_a_clear_error():
    for value, message in (("many", "whole number"), ("0", "between 1 and 64")):
        env = dict(os.environ, WEB_CONCURRENCY=value, WEB_PORT=str(free_port()))
        result = subprocess.run(
            [sys.executable, "-m", "portal.web"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode != 0
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_one_process_unless_more_are_asked_for():
    """One daphne process unless `WEB_CONCURRENCY` asks for more."""
    from portal import web

    assert web.concurrency({}) == 1
    assert web.concurrency({"WEB_CONCURRENCY": " 3 "}) == 3

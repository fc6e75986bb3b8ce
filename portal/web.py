"""`python -m portal.web`: the web process. daphne, in `WEB_CONCURRENCY` processes on one socket.

One daphne process runs Django on one core at a time (the GIL), so a machine with more cores
needs more processes. This binds `WEB_BIND:WEB_PORT` once and starts that many
`daphne --fd` children on the shared socket, the way daphne's documentation runs several
processes under a process manager; the kernel hands each new connection to one of them.
Websockets work across processes because consumers talk through the Redis channel layer.

- `WEB_CONCURRENCY` (default 1, plain daphne). More processes use more cores. Each keeps
  its own routing and policy caches, which every process clears at once when a tenant,
  domain or policy changes (`portal.invalidation`).
- SIGTERM or SIGINT stops every child (SIGKILL after 10 s). If one child exits on its own,
  the others are stopped too and this exits with its code, so the process manager (honcho,
  compose, systemd) sees the failure instead of a web process running at reduced strength.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

APP = "portal.asgi:application"
STOP_SECONDS = 10.0


def concurrency(environ: dict[str, str]) -> int:
    raw = environ.get("WEB_CONCURRENCY", "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        sys.exit(f"WEB_CONCURRENCY must be a whole number, not {raw!r}")
    if not 1 <= value <= 64:
        sys.exit(f"WEB_CONCURRENCY must be between 1 and 64, not {value}")
    return value


def daphne() -> str:
    return str(Path(sys.executable).with_name("daphne"))


def serve(environ: dict[str, str]) -> int:
    host = environ.get("WEB_BIND", "127.0.0.1")
    port = int(environ.get("WEB_PORT", "8000"))
    count = concurrency(environ)
    if count == 1:
        os.execv(daphne(), [daphne(), "-b", host, "-p", str(port), "--proxy-headers", APP])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    listener.set_inheritable(True)
    fd = str(listener.fileno())
    children = [
        subprocess.Popen([daphne(), "--fd", fd, "--proxy-headers", APP], pass_fds=[listener.fileno()])
        for _ in range(count)
    ]
    listener.close()  # the children hold it
    print(f"web: {count} daphne processes on http://{host}:{port}/", flush=True)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        exited = [child for child in children if child.poll() is not None]
        if exited:
            code = exited[0].returncode or 1
            print(f"web: daphne {exited[0].pid} exited with {exited[0].returncode}; stopping", flush=True)
            break
        time.sleep(0.2)
    _stop(children)
    return code


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    sys.exit(serve(dict(os.environ)))

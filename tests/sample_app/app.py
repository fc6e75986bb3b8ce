"""The sample app the deploy tests ship: an HTTP server with /health, plus the commands a
release manifest calls (migrate, backup, restore, stop). Standard library only.

    python app.py serve --port 8123 --pidfile state/app.pid
    python app.py migrate --data DIR [--sleep S] [--fail] [--wait-for FILE]
    python app.py backup --data DIR --to FILE
    python app.py restore --data DIR --from FILE
    python app.py stop --pidfile state/app.pid
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent


def release_info() -> dict:
    path = HERE / "release.json"
    return json.loads(path.read_text()) if path.exists() else {"version": "dev", "healthy": True}


def serve(args: argparse.Namespace) -> None:
    info = release_info()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            healthy = info.get("healthy", True)
            status = 200 if self.path != "/health" or healthy else 503
            body = json.dumps({"version": info["version"], "healthy": healthy}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *fargs: object) -> None:
            print(f"INFO {self.address_string()} {fmt % fargs}", flush=True)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    Path(args.pidfile).write_text(str(os.getpid()))
    print(f"INFO sample app {info['version']} listening on {args.port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


def _exited(pid: int) -> bool:
    """A zombie has exited: its parent (the agent started it detached) has not reaped it yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def stop(args: argparse.Namespace) -> None:
    pidfile = Path(args.pidfile)
    if not pidfile.exists():
        print("INFO nothing to stop")
        return
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            os.kill(pid, 0)
            if _exited(pid):
                break
            time.sleep(0.05)
    except ProcessLookupError:
        pass
    pidfile.unlink(missing_ok=True)
    print(f"INFO stopped {pid}")


def migrate(args: argparse.Namespace) -> None:
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    print(f"INFO migrating to schema of {release_info()['version']}", flush=True)
    if args.sleep:
        time.sleep(args.sleep)
    if args.wait_for:  # a test holds the migration here until it is watching the run live
        deadline = time.monotonic() + 120
        while not Path(args.wait_for).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"INFO go signal received, finishing the migration to {release_info()['version']}", flush=True)
    (data / "schema.txt").write_text(release_info()["version"])
    if args.fail:
        print("ERROR migration failed half-way", flush=True)
        sys.exit(1)


def backup(args: argparse.Namespace) -> None:
    schema = Path(args.data) / "schema.txt"
    Path(args.to).write_text(schema.read_text() if schema.exists() else "")
    print(f"INFO backed up to {args.to}")


def restore(args: argparse.Namespace) -> None:
    content = Path(args.src).read_text()
    schema = Path(args.data) / "schema.txt"
    if content:
        schema.write_text(content)
    else:
        schema.unlink(missing_ok=True)
    print("WARNING restored the pre-deploy backup")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pidfile", required=True)
    p = sub.add_parser("stop")
    p.add_argument("--pidfile", required=True)
    p = sub.add_parser("migrate")
    p.add_argument("--data", required=True)
    p.add_argument("--sleep", type=float, default=0)
    p.add_argument("--fail", action="store_true")
    p.add_argument("--wait-for", default="", help="block until this file exists (tests)")
    p = sub.add_parser("backup")
    p.add_argument("--data", required=True)
    p.add_argument("--to", required=True)
    p = sub.add_parser("restore")
    p.add_argument("--data", required=True)
    p.add_argument("--from", dest="src", required=True)
    args = parser.parse_args()
    {"serve": serve, "stop": stop, "migrate": migrate, "backup": backup, "restore": restore}[args.cmd](args)


if __name__ == "__main__":
    main()

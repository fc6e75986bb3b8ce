"""`python -m deployments.agent --url https://acme.example.com --token tte_…`"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from deployments.agent.connection import Connection, Refused, tail_file
from deployments.agent.deployer import Deployer
from deployments.agent.identity import (
    EnrollmentFailed,
    Identity,
    enroll,
    identity_forget,
    identity_load,
    identity_save,
    token_sha,
)
from deployments.agent.terminal import term_exec

log = logging.getLogger("tenantry.agent")
EXIT_REFUSED = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deployments.agent", description="Tenantry deploy agent")
    parser.add_argument("--url", required=True, help="your portal, e.g. https://acme.tenantry.example")
    parser.add_argument("--token", default="", help="one-time enrolment token (only needed to enrol)")
    parser.add_argument("--state-dir", default=str(Path.home() / ".tenantry-agent"))
    parser.add_argument("--name", default="", help="name shown in the portal (default: hostname)")
    parser.add_argument(
        "--connect-to", default=None, help="dial IP:PORT instead of the URL's host (Host kept)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    state = Path(args.state_dir)
    identity = identity_load(state)
    if identity is None or (
        args.token and identity.token_sha != token_sha(args.token) and _revoked_marker(state)
    ):
        if not args.token:
            log.error("not enrolled: run once with --token from the portal")
            return EXIT_REFUSED
        if identity is not None:
            identity_forget(state)
        try:
            identity = enroll(
                url=args.url, token=args.token, state_dir=state, name=args.name, connect_to=args.connect_to
            )
        except EnrollmentFailed as exc:
            log.error("%s", exc)
            return EXIT_REFUSED
        (state / "revoked").unlink(missing_ok=True)
        log.info("enrolled as agent %s in %s", identity.agent_id, identity.environment)
    conn = Connection(url=args.url, identity=identity, connect_to=args.connect_to)
    deployer = Deployer(state_dir=state, conn=conn, url=args.url, connect_to=args.connect_to)
    conn.handlers["deploy"] = deployer.handle
    conn.handlers["term_exec"] = lambda message: term_exec(conn, message, cwd=state)
    conn.handlers["release_keys"] = lambda message: _learn_release_keys(identity, state, message)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    background = [
        asyncio.ensure_future(conn.flusher()),
        asyncio.ensure_future(tail_file(conn, state / "app.log")),
        asyncio.ensure_future(deployer.recover()),
    ]
    main = asyncio.ensure_future(conn.run_forever())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([main, stopper], return_when=asyncio.FIRST_COMPLETED)
    conn.stopping = True
    for task in [*background, stopper]:
        task.cancel()
    if main.done() and isinstance(main.exception(), Refused):
        reason = str(main.exception())
        log.error("the portal refused this agent: %s", reason)
        if "revoked" in reason:
            (state / "revoked").write_text(reason)
            log.error("re-enrol with a new token: --token …")
        return EXIT_REFUSED
    main.cancel()
    return 0


def _learn_release_keys(identity: Identity, state: Path, message: dict) -> None:
    """The portal's key set (at welcome, after a rotation): keep only endorsed new keys."""
    learned = identity.release_keys_learn(message.get("release_keys"))
    if learned:
        identity_save(state, identity)
        log.info("release key set: now trusting %s (current %s)", ", ".join(learned), identity.release_key_id)


def _revoked_marker(state: Path) -> bool:
    return (state / "revoked").exists()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s agent %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

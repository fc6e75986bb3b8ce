"""The agent buffers log lines while the portal is unreachable and loses none."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from django_tenants.utils import tenant_context

from deployments.models import Agent, LogChunk
from tests.deployments.conftest import free_port, wait_for


class Proxy:
    """A TCP proxy in front of daphne that the test can cut and restore."""

    def __init__(self, target_port: int) -> None:
        self.port, self.target = free_port(), target_port
        self.conns: list[socket.socket] = []
        self.resume()

    def resume(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                self.server = socket.create_server(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        threading.Thread(target=self._accept, args=(self.server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for sock in (a, b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.server.close()
        for sock in self.conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.conns.clear()


def test_the_test_database_is_created_for_this_module(db):
    """pytest-django creates the test database only when some collected test asks for `db`."""


def test_lines_written_during_an_outage_arrive_once_after_it(
    deploy_settings, deploy_env, start_agent, portal_server, acme, alice
):
    proxy = Proxy(portal_server.port)
    environment, raw = deploy_env()
    agent = start_agent(host=alice.host, token=raw, connect_to=f"127.0.0.1:{proxy.port}")

    def online():
        with tenant_context(acme):
            return Agent.objects.filter(environment=environment, status="online").first()

    node = wait_for(online)

    def stored() -> list[str]:
        with tenant_context(acme):
            return [
                line[3]
                for chunk in LogChunk.objects.filter(agent=node).order_by("seq")
                for line in chunk.lines
            ]

    log = agent.state_dir / "app.log"
    with log.open("a") as handle:
        handle.writelines(f"INFO before {i}\n" for i in range(100))
    wait_for(lambda: len(stored()) >= 100)
    proxy.cut()
    with log.open("a") as handle:
        handle.writelines(f"INFO during {i}\n" for i in range(2000))
    time.sleep(1.5)  # the agent notices, reads the file into its outbox, retries with backoff
    proxy.resume()
    wait_for(lambda: len(stored()) >= 2100, timeout=30)
    lines = stored()
    assert lines == [f"INFO before {i}" for i in range(100)] + [f"INFO during {i}" for i in range(2000)]
    proxy.cut()


def test_lines_read_but_not_yet_stored_survive_an_agent_crash(
    deploy_settings, deploy_env, start_agent, portal_server, acme, alice
):
    proxy = Proxy(portal_server.port)
    environment, raw = deploy_env()
    agent = start_agent(host=alice.host, token=raw, connect_to=f"127.0.0.1:{proxy.port}")

    def online():
        with tenant_context(acme):
            return Agent.objects.filter(environment=environment, status="online").first()

    node = wait_for(online)
    proxy.cut()
    with (agent.state_dir / "app.log").open("a") as handle:
        handle.writelines(f"WARNING pending {i}\n" for i in range(500))
    time.sleep(0.5)  # read into memory, never acked
    agent.kill()
    proxy.resume()
    start_agent(host=alice.host, state_dir=agent.state_dir, connect_to=f"127.0.0.1:{proxy.port}")

    def stored() -> list[str]:
        with tenant_context(acme):
            return [
                line[3]
                for chunk in LogChunk.objects.filter(agent=node).order_by("seq")
                for line in chunk.lines
            ]

    wait_for(lambda: len(stored()) >= 500, timeout=30)
    assert stored() == [f"WARNING pending {i}" for i in range(500)]
    proxy.cut()

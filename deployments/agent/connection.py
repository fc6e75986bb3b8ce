# ruff: noqa: ASYNC240 — the agent does small, local, deliberate blocking I/O
"""The agent's one websocket: handshake, heartbeats, an acked outbox, commands.

Reliable messages (log batches, step events, results) wait in the outbox until the portal
acks their sequence number, and are sent again after every reconnect. The app's log is
read from a file at the agent's pace, so a portal outage leaves unsent lines on disk, not
in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from deployments.agent.identity import Identity
from deployments.agent.protocol import AGENT_VERSION, detect_level

log = logging.getLogger("tenantry.agent")

MAX_BATCH_LINES = 1000
MAX_OUTBOX_LINES = 200_000
WINDOW = 64  # unacked messages in flight


class Refused(RuntimeError):
    """The portal refused this agent's credentials."""


def ws_url(url: str) -> str:
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, "/ws/agent/", "", ""))


class Connection:
    def __init__(self, *, url: str, identity: Identity, connect_to: str | None = None) -> None:
        self.url, self.identity, self.connect_to = url, identity, connect_to
        self.outbox: deque[tuple[int, dict]] = deque()
        self.outbox_lines = 0
        self.next_seq = 1
        self.sent_upto = 0
        self.heartbeat_seconds = 10.0
        self.handlers: dict[str, Callable[[dict], Any]] = {}
        self.pending_logs: dict[int | None, list[list]] = {}
        self.wakeup = asyncio.Event()
        self.connected = asyncio.Event()
        self.ws: Any = None
        self.stopping = False
        self.tasks: set[asyncio.Task] = set()
        self.on_ack: dict[int, Callable[[], None]] = {}
        self.retry_after = 0.0  # set when the portal throttles our hello

    # --- what the rest of the agent calls -------------------------------------------------
    def log(
        self, text: str, *, stream: str = "stdout", run_id: int | None = None, ts: float | None = None
    ) -> None:
        self.pending_logs.setdefault(run_id, []).append(
            [ts or time.time(), detect_level(text, stream), stream, text]
        )
        if len(self.pending_logs[run_id]) >= MAX_BATCH_LINES:
            self.flush_logs()

    def flush_logs(self) -> None:
        for run_id, lines in list(self.pending_logs.items()):
            for start in range(0, len(lines), MAX_BATCH_LINES):
                batch = lines[start : start + MAX_BATCH_LINES]
                self.reliable("logs", {"run_id": run_id, "lines": batch}, weight=len(batch))
        self.pending_logs.clear()

    def reliable(self, kind: str, data: dict, *, weight: int = 1) -> None:
        self.outbox.append(
            (self.next_seq, {"type": "rel", "seq": self.next_seq, "kind": kind, "data": data, "w": weight})
        )
        self.next_seq += 1
        self.outbox_lines += weight
        self.wakeup.set()

    @property
    def has_room(self) -> bool:
        return self.outbox_lines < MAX_OUTBOX_LINES

    async def send_now(self, message: dict) -> None:
        """Unreliable, immediate (terminal output): dropped when offline."""
        if self.ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(json.dumps(message))

    # --- the connection loop --------------------------------------------------------------
    async def run_forever(self) -> None:
        backoff = 0.5
        host, port = None, None
        if self.connect_to:
            host, _, port_text = self.connect_to.rpartition(":")
            port = int(port_text)
        while not self.stopping:
            try:
                kwargs: dict[str, Any] = {"open_timeout": 10, "ping_interval": 20, "max_size": 2**24}
                if host:
                    kwargs.update(host=host, port=port)
                origin = urlunsplit(urlsplit(self.url)._replace(path="", query="", fragment=""))
                async with connect(ws_url(self.url), origin=origin, **kwargs) as ws:  # type: ignore[arg-type]
                    if await self._session(ws):
                        backoff = 0.5
            except Refused:
                raise
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                log.info("portal unreachable (%s); retrying in %.1fs", exc.__class__.__name__, backoff)
            finally:
                self.ws = None
                self.connected.clear()
            if self.stopping:
                break
            await asyncio.sleep(max(backoff * (0.8 + random.random() * 0.4), self.retry_after))
            self.retry_after = 0.0
            backoff = min(backoff * 2, 30.0)

    async def _session(self, ws: Any) -> bool:
        await ws.send(
            json.dumps({"type": "hello", "agent_id": self.identity.agent_id, "version": AGENT_VERSION})
        )
        challenge = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if challenge.get("type") == "throttled":  # too many hellos: come back later, keep credentials
            self.retry_after = min(float(challenge.get("retry_after") or 30), 600.0)
            log.info("portal throttled this agent; retrying in %.0fs", self.retry_after)
            return False
        if challenge.get("type") != "challenge":
            raise Refused(challenge.get("reason", "no challenge"))
        nonce = challenge["nonce"]
        await ws.send(
            json.dumps({"type": "auth", "nonce": nonce, "signature": self.identity.sign_challenge(nonce)})
        )
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if welcome.get("type") != "welcome":
            raise Refused(welcome.get("reason", "refused"))
        self.heartbeat_seconds = float(welcome.get("heartbeat_seconds", 10))
        if "release_keys" in welcome and "release_keys" in self.handlers:
            await self._handle("release_keys", welcome)
        self._acked(int(welcome.get("last_seq", 0)))
        self.next_seq = max(self.next_seq, int(welcome.get("last_seq", 0)) + 1)
        self.sent_upto = 0
        self.ws = ws
        self.connected.set()
        tasks = [asyncio.ensure_future(coro) for coro in (self._heartbeats(ws), self._sender(ws))]
        try:
            async for raw in ws:
                await self._dispatch(json.loads(raw))
        finally:
            for task in tasks:
                task.cancel()
        return True

    def _acked(self, seq: int) -> None:
        while self.outbox and self.outbox[0][0] <= seq:
            done, message = self.outbox.popleft()
            self.outbox_lines -= message.get("w", 1)
            callback = self.on_ack.pop(done, None)
            if callback is not None:
                callback()

    async def _dispatch(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "ack":
            self._acked(int(message.get("seq", 0)))
            self.wakeup.set()
        elif kind == "refused":
            raise Refused(message.get("reason", "refused"))
        elif kind in self.handlers:
            task = asyncio.ensure_future(self._handle(kind, message))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _handle(self, kind: str, message: dict) -> None:
        try:
            result = self.handlers[kind](message)
            if asyncio.iscoroutine(result):
                await result
        except Exception:  # a failing command must not kill the connection
            log.exception("handler %s failed", kind)

    async def _heartbeats(self, ws: Any) -> None:
        while True:
            await ws.send(json.dumps({"type": "heartbeat", "version": AGENT_VERSION}))
            await asyncio.sleep(self.heartbeat_seconds)

    async def _sender(self, ws: Any) -> None:
        while True:
            self.wakeup.clear()
            in_flight = [seq for seq, _ in self.outbox if seq <= self.sent_upto]
            for seq, message in list(self.outbox):
                if seq <= self.sent_upto:
                    continue
                if len(in_flight) >= WINDOW:
                    break
                await ws.send(json.dumps(message))
                self.sent_upto = seq
                in_flight.append(seq)
            await self.wakeup.wait()

    async def flusher(self, interval: float = 0.02) -> None:
        while not self.stopping:
            await asyncio.sleep(interval)
            if self.pending_logs:
                self.flush_logs()


async def tail_file(conn: Connection, path: Path, *, interval: float = 0.1) -> None:
    """Ship an app log file line by line; pause reading (not dropping) when the outbox is full.

    The saved read offset only moves when the portal has acked (stored) the lines, so an agent
    that dies with lines in memory reads them again on restart: at least once, never lost.
    """
    offset_file = path.with_suffix(path.suffix + ".offset")
    offset = int(offset_file.read_text() or 0) if offset_file.exists() else 0
    while not conn.stopping:
        if path.exists() and conn.has_room:
            size = path.stat().st_size
            if size < offset:
                offset = 0  # truncated or rotated
            if size > offset:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read(min(size - offset, 1 << 20))
                complete = chunk.rfind(b"\n") + 1
                for line in chunk[:complete].decode(errors="replace").splitlines():
                    conn.log(line, stream="stdout")
                offset += complete
                if complete:
                    conn.flush_logs()
                    reached = offset
                    conn.on_ack[conn.next_seq - 1] = lambda reached=reached: offset_file.write_text(
                        str(reached)
                    )
        await asyncio.sleep(interval)

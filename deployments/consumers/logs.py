"""`/ws/deployments/logs/<agent|run>/<id>/`: live log lines and run progress for a browser.

Lines are batched per frame: the first waiting lines go out at once, then at most one frame
per DEPLOY_VIEWER_FLUSH_SECONDS. The buffer is bounded: a viewer that cannot keep up loses
the oldest batches (and is told how many lines), and a full channel-layer inbox drops
messages, so a slow viewer never slows the agent.

A frame: {"type": "lines", "n": lines, "dropped": lines lost, "batches": [[agent_id,
[[ts, level, stream, text], …]], …]}. Batches arrive JSON-encoded from the agent socket,
by reference (fanout.py: one Redis copy, one fetch per process), and are forwarded as text,
so ten viewers cost ten string joins, not ten encodings.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from deployments import conf
from deployments.consumers import fanout
from deployments.consumers.base import MemberConsumer, logs_group
from deployments.models import Agent, DeployRun
from portal.channels import tenant_sync


class LogViewerConsumer(MemberConsumer):
    access_permission = "deployments.read"
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        self.kind, self.pk = kwargs["kind"], kwargs["pk"]
        if not user or not user.is_authenticated:
            await self.close(code=4401)
            return
        if self.kind not in ("agent", "run"):
            await self.close(code=4403)
            return
        await self.access_baseline()
        if not await self._allowed(check_object=True):
            await self.close(code=4403)
            return
        self.buffer: deque[tuple[int, str]] = deque()
        self.buffered, self.dropped = 0, 0
        self.pending = asyncio.Event()
        self.limit = conf.get("DEPLOY_VIEWER_BUFFER_LINES")
        self.group = logs_group(self.schema, self.kind, self.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.flusher = asyncio.ensure_future(self._flush_loop())

    async def disconnect(self, code: int) -> None:
        if self.group:
            self.flusher.cancel()
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Viewers only listen; filtering and search happen in the page.
        return

    @tenant_sync
    def _allowed(self, check_object: bool = False) -> bool:
        if not self.member_allowed():
            return False
        if check_object:
            model = Agent if self.kind == "agent" else DeployRun
            return model.objects.filter(pk=self.pk).exists()
        return True

    async def access_allowed(self) -> bool:
        return await self._allowed()

    async def log_lines(self, event: dict) -> None:
        if not await self.access_still_allowed():
            return
        chunk = event["chunk"] if "chunk" in event else await fanout.chunk_get(event["ref"])
        if chunk is None:  # expired before this viewer got to it
            self.dropped += event["n"]
            self.pending.set()
            return
        self.buffer.append((event["n"], chunk))
        self.buffered += event["n"]
        while self.buffered > self.limit and len(self.buffer) > 1:
            count, _ = self.buffer.popleft()
            self.buffered -= count
            self.dropped += count
        self.pending.set()

    async def run_update(self, event: dict) -> None:
        if await self.access_still_allowed():
            await self.send_json({"type": "run", "run": event["run"]})

    async def _flush_loop(self) -> None:
        """A frame goes out as soon as lines wait, then at most one per interval: an idle
        stream adds no delay, a busy one is batched into frames."""
        interval = conf.get("DEPLOY_VIEWER_FLUSH_SECONDS")
        while True:
            await self.pending.wait()
            self.pending.clear()
            if self.access_revoked:
                return
            if self.buffer or self.dropped:
                chunks = ",".join(chunk for _, chunk in self.buffer)
                text = f'{{"type":"lines","n":{self.buffered},"dropped":{self.dropped},"batches":[{chunks}]}}'
                self.buffer.clear()
                self.buffered, self.dropped = 0, 0
                with contextlib.suppress(Exception):  # the socket went away mid-frame
                    await self.send(text_data=text)
            await asyncio.sleep(interval)

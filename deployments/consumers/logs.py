"""`/ws/deployments/logs/<agent|run>/<id>/`: live log lines and run progress for a browser.

Lines are batched per frame (every DEPLOY_VIEWER_FLUSH_SECONDS). The buffer is bounded: a
viewer that cannot keep up loses the oldest lines (and is told how many), and a full
channel-layer inbox drops messages, so a slow viewer never slows the agent.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from deployments import conf
from deployments.consumers.base import JsonConsumer, logs_group
from deployments.models import Agent, DeployRun
from portal.channels import tenant_sync
from tenants.members.permissions import has_perm


class LogViewerConsumer(JsonConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        self.kind, self.pk = kwargs["kind"], kwargs["pk"]
        if not user or not user.is_authenticated:
            await self.close(code=4401)
            return
        if self.kind not in ("agent", "run") or not await self._allowed(check_object=True):
            await self.close(code=4403)
            return
        self.checked_at = time.monotonic()
        self.buffer: deque[list] = deque(maxlen=conf.get("DEPLOY_VIEWER_BUFFER_LINES"))
        self.dropped = 0
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
        user = self.scope["user"]
        user.refresh_from_db(fields=["role", "is_active"])
        if not has_perm(user, "deployments.read"):
            return False
        if check_object:
            model = Agent if self.kind == "agent" else DeployRun
            return model.objects.filter(pk=self.pk).exists()
        return True

    async def _still_allowed(self) -> bool:
        """The role is re-read for group messages (at most every DEPLOY_ROLE_RECHECK_SECONDS)."""
        now = time.monotonic()
        if now - self.checked_at < conf.get("DEPLOY_ROLE_RECHECK_SECONDS"):
            return True
        self.checked_at = now
        if await self._allowed():
            return True
        await self.close(code=4403)
        return False

    async def log_lines(self, event: dict) -> None:
        if not await self._still_allowed():
            return
        overflow = len(self.buffer) + len(event["lines"]) - (self.buffer.maxlen or 0)
        if overflow > 0:
            self.dropped += overflow
        self.buffer.extend([event["agent"], event["t"], *line] for line in event["lines"])

    async def run_update(self, event: dict) -> None:
        if await self._still_allowed():
            await self.send_json({"type": "run", "run": event["run"]})

    async def _flush_loop(self) -> None:
        interval = conf.get("DEPLOY_VIEWER_FLUSH_SECONDS")
        while True:
            await asyncio.sleep(interval)
            if self.buffer or self.dropped:
                lines, dropped = list(self.buffer), self.dropped
                self.buffer.clear()
                self.dropped = 0
                await self.send_json({"type": "lines", "lines": lines, "dropped": dropped})

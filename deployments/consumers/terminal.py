"""Placeholder; replaced below."""

from __future__ import annotations

from deployments.consumers.base import JsonConsumer


class TerminalConsumer(JsonConsumer):
    async def connect(self) -> None:
        await self.close(code=4403)

"""Shared consumer plumbing: JSON that never crashes the socket, group names."""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


def logs_group(schema: str, kind: str, pk: int) -> str:
    return f"deploy-logs.{schema}.{kind}.{pk}"


def terminal_group(schema: str, session_id: int) -> str:
    return f"deploy-term.{schema}.{session_id}"


class JsonConsumer(AsyncJsonWebsocketConsumer):
    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        try:
            return json.loads(text_data)
        except (ValueError, TypeError):
            return None

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return json.dumps(content, separators=(",", ":"))

    @property
    def schema(self) -> str:
        return self.scope["tenant"].schema_name

"""Shared consumer plumbing: JSON that never crashes the socket, group names."""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.sessions.models import Session
from django.utils import timezone

from tenants.members.access import UNKNOWN, access_version_aget
from tenants.members.permissions import has_perm


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


class MemberConsumer(JsonConsumer):
    """A browser socket whose member's access is re-checked on every group message.

    One Redis GET per message compares the member's access version (bumped by the role and
    deactivation services); only a change costs the full database check (`access_allowed`).
    """

    access_permission: str  # what the member must still hold, e.g. "deployments.read"
    access_version: int = UNKNOWN
    access_revoked: bool = False

    async def access_allowed(self) -> bool:
        raise NotImplementedError

    def member_allowed(self) -> bool:
        """The full check (call inside the tenant's schema): the member's role and active flag
        re-read from the database, and the socket's login session still there. Ending a
        member's sessions bumps their access version, so their sockets land here and close."""
        user = self.scope["user"]
        user.refresh_from_db(fields=["role", "is_active"])
        if not has_perm(user, self.access_permission):
            return False
        key = getattr(self.scope.get("session"), "session_key", None)
        if not key:
            return True  # not a session login (e.g. a token): nothing to end
        return Session.objects.filter(session_key=key, expire_date__gt=timezone.now()).exists()

    async def access_baseline(self) -> None:
        """Read before the full check at connect, so a change in between is never missed."""
        self.access_version = await access_version_aget(self.schema, self.scope["user"].pk)

    async def access_still_allowed(self) -> bool:
        if self.access_revoked:
            return False
        version = await access_version_aget(self.schema, self.scope["user"].pk)
        if version != UNKNOWN and version == self.access_version:
            return True
        self.access_version = version
        if await self.access_allowed():
            return True
        self.access_revoked = True
        await self.close(code=4403)
        return False

"""A tiny authenticated socket: it proves tenant routing and auth for websockets."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from portal.channels import tenant_sync


class WhoAmIConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if not user or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        await self.send_json(await self.whoami())

    @tenant_sync
    def whoami(self) -> dict:
        from django.db import connection

        user = self.scope["user"]
        user.refresh_from_db(fields=["role", "is_active"])
        return {"tenant": connection.schema_name, "email": user.email, "role": user.role}

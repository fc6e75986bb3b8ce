"""`/ws/agent/`: one socket per agent for auth, heartbeats, commands, logs and terminal I/O.

Handshake: the agent says `hello` with its id, the portal answers with a fresh single-use
nonce, the agent signs it. Nothing else is accepted before that. Reliable messages (`rel`)
are processed in order, at most once (by sequence number), then acked. `hello` is rate
limited per client IP and per claimed agent id (`deployments.ratelimit`): over the limit the
agent gets `{"type": "throttled", "retry_after": s}` and close code 4429.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from deployments import conf, logstore, pipeline, ratelimit, services
from deployments.consumers import fanout
from deployments.consumers.base import JsonConsumer, logs_group, terminal_group
from deployments.models import Agent
from deployments.release_keys import release_key_set
from portal.channels import tenant_sync

CLOSE_THROTTLED = 4429  # like HTTP 429: too many `hello`s from this IP or for this agent id


class AgentConsumer(JsonConsumer):
    agent_id: int | None = None

    async def connect(self) -> None:
        self.agent_id = None
        self.pending: tuple[int, str] | None = None
        self.last_seq = self.stored_seq = 0
        self.unstored: list[tuple[int, int | None, list]] = []
        self.store_task: asyncio.Future | None = None
        self.known_runs: dict[int, bool] = {}
        self.term_sessions: set[int] = set()
        await self.accept()
        self.deadline = asyncio.get_running_loop().call_later(
            conf.get("DEPLOY_AUTH_TIMEOUT_SECONDS"), lambda: asyncio.ensure_future(self._auth_timeout())
        )

    async def _auth_timeout(self) -> None:
        if self.agent_id is None:
            await self._refuse("Authentication took too long.")

    async def _refuse(self, reason: str, code: int = 4403) -> None:
        await self.send_json({"type": "refused", "reason": reason})
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        self.deadline.cancel()
        if self.agent_id is not None:
            await self.channel_layer.group_discard(
                services.agent_group(self.agent_id, self.schema), self.channel_name
            )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if self.agent_id is None:
            await self._handshake(kind, content or {})
        elif kind == "rel":
            await self._reliable(content)
        elif kind == "heartbeat":
            if not await self._heartbeat(str(content.get("version", ""))):
                await self._refuse("This agent's credentials were revoked.")
        elif kind in ("term_out", "term_exit") and content.get("session") in self.term_sessions:
            await self.channel_layer.group_send(
                terminal_group(self.schema, content["session"]),
                {"type": "terminal.output", "payload": content},
            )

    # --- handshake ----------------------------------------------------------------------
    async def _handshake(self, kind: str | None, content: dict) -> None:
        if kind == "hello" and isinstance(content.get("agent_id"), int) and self.pending is None:
            retry_after = await ratelimit.hello_retry_after(
                ip=ratelimit.scope_client_ip(self.scope), schema=self.schema, agent_id=content["agent_id"]
            )
            if retry_after:
                # Not a refusal of the credentials: the agent keeps them and comes back later.
                await self.send_json(
                    {
                        "type": "throttled",
                        "reason": "Too many hellos; try again later.",
                        "retry_after": retry_after,
                    }
                )
                await self.close(code=CLOSE_THROTTLED)
                return
            nonce = await self._issue(content["agent_id"])
            self.pending = (content["agent_id"], nonce)
            await self.send_json({"type": "challenge", "nonce": nonce})
            return
        if kind == "auth" and self.pending is not None:
            agent_id, nonce = self.pending
            if content.get("nonce") != nonce:
                await self._refuse("The answer is not for this connection's challenge.")
                return
            result = await self._authenticate(agent_id, nonce, str(content.get("signature", "")))
            if isinstance(result, str):
                await self._refuse(result)
                return
            self.deadline.cancel()
            self.agent_id, self.last_seq = agent_id, result["last_seq"]
            self.stored_seq = self.last_seq
            await self.channel_layer.group_add(services.agent_group(agent_id, self.schema), self.channel_name)
            await self.send_json({"type": "welcome", **result})
            for command in await self._pending_commands():
                await self.send_json(command)
            return
        await self._refuse("Say hello, then answer the challenge.", code=4401)

    @tenant_sync
    def _issue(self, agent_id: int) -> str:
        return services.agent_challenge_issue(agent_id=agent_id)

    @tenant_sync
    def _authenticate(self, agent_id: int, nonce: str, signature: str) -> dict | str:
        try:
            agent = services.agent_authenticate(agent_id=agent_id, nonce=nonce, signature=signature)
        except services.AgentAuthRefused as exc:
            return str(exc)
        return {
            "agent_id": agent.pk,
            "last_seq": agent.last_seq,
            "heartbeat_seconds": conf.get("DEPLOY_HEARTBEAT_SECONDS"),
            "environment": agent.environment.name,
            "release_keys": release_key_set(),
        }

    @tenant_sync
    def _pending_commands(self) -> list[dict]:
        return pipeline.pending_commands(agent=Agent.objects.get(pk=self.agent_id))

    @tenant_sync
    def _heartbeat(self, version: str) -> bool:
        try:
            services.agent_heartbeat(agent_id=self.agent_id, agent_version=version)
        except services.AgentAuthRefused:
            return False
        return True

    # --- reliable messages --------------------------------------------------------------
    async def _reliable(self, content: dict) -> None:
        """In order, at most once. Log batches are stored in the background (several per
        write) and acked cumulatively once stored; events wait for earlier logs first."""
        seq, kind, data = content.get("seq"), content.get("kind"), content.get("data")
        if not isinstance(seq, int) or not isinstance(data, dict):
            return
        if seq <= self.last_seq:
            if seq <= self.stored_seq:
                await self.send_json({"type": "ack", "seq": seq})
            return
        self.last_seq = seq
        if kind == "logs":
            await self._logs(seq, data)
            return
        await self._drain()
        if kind in ("step", "result"):
            await self._event(seq, kind, data)
        self.stored_seq = seq
        await self.send_json({"type": "ack", "seq": seq})

    async def _drain(self) -> None:
        while self.store_task is not None and not self.store_task.done():
            await asyncio.shield(self.store_task)

    async def _store_worker(self) -> None:
        while self.unstored:
            batch, self.unstored = self.unstored, []
            await self._store_many(batch)
            self.stored_seq = batch[-1][0]
            await self.send_json({"type": "ack", "seq": self.stored_seq})

    async def _logs(self, seq: int, data: dict) -> None:
        lines = logstore.clean_lines(data.get("lines"))
        run_id = data.get("run_id") if isinstance(data.get("run_id"), int) else None
        if run_id is not None and run_id not in self.known_runs:
            self.known_runs[run_id] = await self._run_targets_me(run_id)
        run_id = run_id if self.known_runs.get(run_id) else None
        # Viewers first (the live path), storage second; a full viewer channel drops, never blocks.
        # The batch is JSON-encoded once here and stored once; viewers get its key and forward
        # the text without re-encoding it (fanout.py).
        chunk = f"[{self.agent_id},{json.dumps(lines)}]"
        ref = await fanout.chunk_put(chunk)
        event = {"type": "log.lines", "n": len(lines), **({"ref": ref} if ref else {"chunk": chunk})}
        await self.channel_layer.group_send(logs_group(self.schema, "agent", self.agent_id), event)
        if run_id is not None:
            await self.channel_layer.group_send(logs_group(self.schema, "run", run_id), event)
        # Stored in the background, several batches per write, acked once stored (an acked line
        # is a stored line); the agent's window of unacked batches paces it.
        self.unstored.append((seq, run_id, lines))
        if self.store_task is None or self.store_task.done():
            self.store_task = asyncio.ensure_future(self._store_worker())

    @tenant_sync
    def _run_targets_me(self, run_id: int) -> bool:
        return pipeline.run_targets_agent(run_id=run_id, agent_id=self.agent_id)

    @tenant_sync
    def _store_many(self, batch: list[tuple[int, int | None, list]]) -> None:
        logstore.chunks_store(agent_id=self.agent_id, batches=batch)

    @tenant_sync
    def _event(self, seq: int, kind: str, data: dict) -> None:
        pipeline.agent_event(agent=Agent.objects.get(pk=self.agent_id), seq=seq, kind=kind, data=data)

    # --- group messages -----------------------------------------------------------------
    async def agent_command(self, event: dict) -> None:
        payload = event["payload"]
        if str(payload.get("type", "")).startswith("term_") and isinstance(payload.get("session"), int):
            self.term_sessions.add(payload["session"])
        await self.send_json(payload)

    async def agent_revoked(self, event: dict) -> None:
        await self._refuse("This agent's credentials were revoked.")

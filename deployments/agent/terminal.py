# ruff: noqa: ASYNC109 — the agent does small, local, deliberate blocking I/O
"""Terminal commands on the node: argument lists only, never a shell; output streamed back."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from deployments.agent.connection import Connection

FORBIDDEN = set(";|&$`<>\n\r\x00")


def refuse_reason(argv: object) -> str | None:
    """Defence in depth: the portal checks the allow-list; the agent re-checks the shape."""
    if not isinstance(argv, list) or not argv or not all(isinstance(arg, str) for arg in argv):
        return "not an argument list"
    if "/" in argv[0] or any(FORBIDDEN & set(arg) for arg in argv):
        return "shell syntax is not allowed"
    if any(".." in arg.split("/") for arg in argv):
        return "path escapes are not allowed"
    return None


async def term_exec(conn: Connection, message: dict, *, cwd: Path, timeout: float = 60.0) -> None:
    session, argv = message.get("session"), message.get("argv")
    reason = refuse_reason(argv)
    program = shutil.which(argv[0]) if reason is None and isinstance(argv, list) else None
    if reason is None and program is None:
        reason = f"{argv[0]}: not found on this node"  # type: ignore[index]
    if reason is not None:
        await conn.send_now({"type": "term_out", "session": session, "data": f"refused: {reason}\r\n"})
        await conn.send_now({"type": "term_exit", "session": session, "code": 126})
        return
    proc = await asyncio.create_subprocess_exec(
        program,
        *argv[1:],
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,  # type: ignore[index, arg-type]
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "TERM": "dumb"},
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            while chunk := await proc.stdout.read(4096):
                text = chunk.decode(errors="replace").replace("\r\n", "\n").replace("\n", "\r\n")
                await conn.send_now({"type": "term_out", "session": session, "data": text})
            code = await proc.wait()
    except TimeoutError:
        proc.kill()
        code = 124
        await conn.send_now({"type": "term_out", "session": session, "data": "\r\n[timed out]\r\n"})
    await conn.send_now({"type": "term_exit", "session": session, "code": code})

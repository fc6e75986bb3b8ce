"""The agent ⇄ portal wire protocol, shared by both sides (no Django imports here).

Messages are JSON objects with a `type`. Agent → portal messages that must not be lost
(`rel`: log batches, step events, run results) carry a sequence number; the portal
persists each at most once (it remembers the agent's highest sequence number) and acks
it, and the agent resends everything unacked after a reconnect.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

PROTOCOL_VERSION = 1
AGENT_VERSION = "1.0.0"

# Commands every release manifest must define (argument lists, never shell strings).
REQUIRED_COMMANDS = ("backup", "restore", "stop", "migrate", "start")
LEVELS = ("debug", "info", "warning", "error", "critical")

_LEVEL_RE = re.compile(
    r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|PANIC)\b", re.IGNORECASE
)
_LEVEL_MAP = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "err": "error",
    "error": "error",
    "fatal": "critical",
    "critical": "critical",
    "panic": "critical",
}


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def release_payload(*, tenant: str, version: str, artifact_sha256: str, manifest: dict) -> bytes:
    """The bytes a release signature covers: tenant, version, artifact hash and manifest."""
    return canonical(
        {
            "purpose": "tenantry-release-v1",
            "tenant": tenant,
            "version": version,
            "artifact_sha256": artifact_sha256,
            "manifest": manifest,
        }
    )


def release_key_id(public_key_b64: str) -> str:
    """A release key's id: the first 16 hex digits of SHA-256 over the raw public key."""
    return hashlib.sha256(base64.b64decode(public_key_b64, validate=True)).hexdigest()[:16]


def release_key_rotation_payload(*, tenant: str, previous_key_id: str, key_id: str, public_key: str) -> bytes:
    """The bytes the previous release key signs to endorse its successor (key rotation)."""
    return canonical(
        {
            "purpose": "tenantry-release-key-rotation-v1",
            "tenant": tenant,
            "previous_key_id": previous_key_id,
            "key_id": key_id,
            "public_key": public_key,
        }
    )


def challenge_payload(*, agent_id: int, nonce: str) -> bytes:
    return f"tenantry-agent-auth-v1\n{agent_id}\n{nonce}".encode()


def detect_level(text: str, stream: str = "stdout") -> str:
    match = _LEVEL_RE.search(text[:160])
    if match:
        return _LEVEL_MAP[match.group(1).lower()]
    return "error" if stream == "stderr" and "traceback" in text[:40].lower() else "info"


def version_key(version: str) -> tuple:
    """Order versions numerically where they are numbers: 1.10.0 > 1.9.3."""
    parts = re.split(r"[.\-+_]", version.strip().lstrip("vV"))
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts if part)


def is_newer(candidate: str, current: str | None) -> bool:
    return current is None or version_key(candidate) > version_key(current)


def _is_argv(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(arg, str) and arg for arg in value)


def manifest_problems(manifest: Any) -> list[str]:
    """Everything wrong with a manifest; empty when it can be deployed."""
    if not isinstance(manifest, dict):
        return ["The manifest must be a JSON object."]
    problems: list[str] = []
    commands = manifest.get("commands")
    if not isinstance(commands, dict):
        problems.append("The manifest has no 'commands' object.")
        commands = {}
    for name in REQUIRED_COMMANDS:
        if name not in commands:
            problems.append(f"The manifest is missing the '{name}' command.")
        elif not _is_argv(commands[name]):
            problems.append(f"The '{name}' command must be a non-empty list of arguments (no shell string).")
    health = manifest.get("health_check")
    if not isinstance(health, dict) or not str(health.get("url", "")).startswith(("http://", "https://")):
        problems.append("The manifest needs a health_check with an http(s) url.")
    else:
        retries, interval = health.get("retries", 5), health.get("interval", 1.0)
        if not isinstance(retries, int) or not 1 <= retries <= 60:
            problems.append("health_check.retries must be an integer from 1 to 60.")
        if not isinstance(interval, int | float) or not 0 < interval <= 60:
            problems.append("health_check.interval must be a number of seconds from 0 to 60.")
    smoke = manifest.get("smoke", [])
    if not isinstance(smoke, list) or not all(_is_argv(cmd) for cmd in smoke):
        problems.append("smoke must be a list of argument lists.")
    return problems


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()

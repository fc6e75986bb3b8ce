"""The agent's identity: an Ed25519 key pair made at enrolment, kept in the state dir.

It also holds the tenant's release key set (key id → public key). Enrolment trusts the set
the portal returns over the token-authenticated request; after that a key is only added
when a key already trusted endorses it (`release_keys_learn`: the portal's rotation
statement, signed by the previous key), so a portal connection alone cannot slip in a key.
The newest key of the chain signs new releases; older ones only verify rollbacks.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import platform
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from deployments.agent.protocol import (
    AGENT_VERSION,
    challenge_payload,
    release_key_id,
    release_key_rotation_payload,
)


class EnrollmentFailed(RuntimeError):
    pass


@dataclass
class Identity:
    agent_id: int
    private_key: str
    public_key: str
    tenant: str
    release_public_key: str
    environment: str
    token_sha: str

    def sign_challenge(self, nonce: str) -> str:
        key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(self.private_key))
        return base64.b64encode(key.sign(challenge_payload(agent_id=self.agent_id, nonce=nonce))).decode()

    release_keys: dict[str, str] = field(default_factory=dict)
    release_key_id: str = ""

    def __post_init__(self) -> None:
        if not self.release_keys and self.release_public_key:  # enrolled before key rotation existed
            self.release_key_id = release_key_id(self.release_public_key)
            self.release_keys = {self.release_key_id: self.release_public_key}

    def release_keys_learn(self, entries: Any) -> list[str]:
        """Trust each key endorsed by a key already trusted; return the ids newly trusted.

        A key endorsed by the current key becomes current (new releases are signed with it).
        """
        learned: list[str] = []
        progress = isinstance(entries, list)
        while progress:
            progress = False
            for entry in entries:
                if not isinstance(entry, dict):
                    continue
                kid, public, previous = (
                    entry.get("key_id"),
                    entry.get("public_key"),
                    entry.get("previous_key_id"),
                )
                if not (isinstance(kid, str) and isinstance(public, str) and isinstance(previous, str)):
                    continue
                if kid in self.release_keys or previous not in self.release_keys:
                    continue
                try:
                    if release_key_id(public) != kid:
                        continue
                except ValueError:
                    continue
                statement = release_key_rotation_payload(
                    tenant=self.tenant, previous_key_id=previous, key_id=kid, public_key=public
                )
                if not _verify(self.release_keys[previous], str(entry.get("endorsement", "")), statement):
                    continue
                self.release_keys[kid] = public
                learned.append(kid)
                progress = True
                if previous == self.release_key_id:
                    self.release_key_id, self.release_public_key = kid, public
        return learned

    def release_signature_problem(
        self, *, key_id: str, signature: str, payload: bytes, rollback: bool
    ) -> str | None:
        """Why a release may not be deployed here (None when its signature is good)."""
        kid = key_id or self.release_key_id
        public = self.release_keys.get(kid)
        if public is None:
            return f"release is signed with key {kid}, which is not in this organisation's release key set"
        if not _verify(public, signature, payload):
            return "release signature is missing or invalid"
        if kid != self.release_key_id and not rollback:
            return f"release is signed with retired key {kid}; a retired key only verifies rollbacks"
        return None


def _verify(public_key_b64: str, signature_b64: str, payload: bytes) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
        key.verify(base64.b64decode(signature_b64 or ""), payload)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _key_entry_ok(entry: dict) -> bool:
    try:
        return release_key_id(str(entry.get("public_key", ""))) == entry.get("key_id")
    except ValueError:
        return False


def host_fingerprint() -> str:
    machine_id = ""
    for candidate in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        if os.path.exists(candidate):
            machine_id = Path(candidate).read_text().strip()
            break
    material = f"{machine_id}|{socket.gethostname()}|{platform.machine()}"
    return "sha256:" + hashlib.sha256(material.encode()).hexdigest()


def token_sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity_path(state_dir: Path) -> Path:
    return state_dir / "identity.json"


def identity_load(state_dir: Path) -> Identity | None:
    path = identity_path(state_dir)
    if not path.exists():
        return None
    return Identity(**json.loads(path.read_text()))


def identity_save(state_dir: Path, identity: Identity) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = identity_path(state_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(identity), handle)
    os.replace(tmp, path)


def identity_forget(state_dir: Path) -> None:
    identity_path(state_dir).unlink(missing_ok=True)


def http_request(
    url: str,
    method: str = "GET",
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    connect_to: str | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """A plain HTTP(S) request; `connect_to` ("ip:port") dials elsewhere but keeps the Host."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    if connect_to:
        host, _, port_text = connect_to.rpartition(":")
        port = int(port_text)
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_class(host, port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        all_headers = {
            "Host": parts.netloc,
            "User-Agent": f"tenantry-agent/{AGENT_VERSION}",
            **(headers or {}),
        }
        conn.request(method, path or "/", body=body, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def enroll(*, url: str, token: str, state_dir: Path, name: str, connect_to: str | None) -> Identity:
    private = Ed25519PrivateKey.generate()
    raw_private = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    raw_public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public_b64 = base64.b64encode(raw_public).decode()
    body: dict[str, Any] = {
        "token": token,
        "public_key": public_b64,
        "host_fingerprint": host_fingerprint(),
        "name": name or socket.gethostname(),
        "agent_version": AGENT_VERSION,
    }
    status, content = http_request(
        url.rstrip("/") + "/api/v1/deployments/agents/enroll/",
        "POST",
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        connect_to=connect_to,
    )
    try:
        data = json.loads(content or b"{}")
    except ValueError:
        data = {}
    if status != 201:
        message = (data.get("error") or {}).get("message") if isinstance(data, dict) else None
        raise EnrollmentFailed(f"enrolment refused ({status}): {message or content[:200]!r}")
    identity = Identity(
        agent_id=int(data["agent_id"]),
        private_key=base64.b64encode(raw_private).decode(),
        public_key=public_b64,
        tenant=data["tenant"],
        release_public_key=data["release_public_key"],
        environment=data["environment"],
        token_sha=token_sha(token),
    )
    # The whole set the portal vouches for at enrolment (older keys verify rollbacks).
    keys = {
        entry["key_id"]: entry["public_key"]
        for entry in data.get("release_keys") or []
        if isinstance(entry, dict) and _key_entry_ok(entry)
    }
    if keys:
        identity.release_keys = {**keys, **identity.release_keys}
    identity_save(state_dir, identity)
    return identity

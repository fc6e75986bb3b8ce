"""The canonical encoding of an audit event and its hash. No Django import.

`compliance.verify` (the standalone offline verifier) uses this module too, so an outside
auditor hashes exactly what the portal hashed.

    hash = SHA-256( canonical JSON of [version, seq, time, tenant, actor_type, actor_id,
                    actor_label, action, target_type, target_id, target_label, ip,
                    user_agent, request_id, payload, prev_hash] )

- canonical JSON: keys sorted, no whitespace, UTF-8, no NaN/Infinity;
- time: UTC, always six fractional digits, e.g. "2026-11-21T22:40:16.000123Z";
- ip: the address text or null; prev_hash: 64 hex, the genesis is 64 zeros.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

VERSION = 1
GENESIS = "0" * 64
# The fields of an event as exported (JSON Lines) and as hashed, in hashing order.
FIELDS = (
    "seq",
    "time",
    "tenant",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "ip",
    "user_agent",
    "request_id",
    "payload",
    "prev_hash",
)

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def canonical(values: tuple[Any, ...] | list[Any]) -> bytes:
    """`values` in FIELDS order."""
    return _dumps([VERSION, *values]).encode()


def event_hash(values: tuple[Any, ...] | list[Any]) -> str:
    return hashlib.sha256(canonical(values)).hexdigest()


def hash_record(record: Mapping[str, Any]) -> str:
    return event_hash([record[name] for name in FIELDS])


def checkpoint_message(*, chain: str, seq: int, hash: str, time: str) -> bytes:
    """The bytes an Ed25519 checkpoint signature covers."""
    return _dumps(
        {
            "type": "tenantry.audit.checkpoint",
            "v": VERSION,
            "chain": chain,
            "seq": seq,
            "hash": hash,
            "time": time,
        }
    ).encode()

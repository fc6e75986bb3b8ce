"""The canonical encoding of an audit event and its hash. No Django import.

`compliance.verify` (the standalone offline verifier) uses this module, and
`compliance.chain` builds the same bytes in SQL, so the database can re-hash a million
events at C speed and an outside auditor hashes exactly what the portal hashed.

    canonical = "tenantry.audit.v1|" + lp(seq) + lp(time) + lp(tenant) + lp(actor_type)
                + lp(actor_id) + lp(actor_label) + lp(action) + lp(target_type)
                + lp(target_id) + lp(target_label) + lp(ip) + lp(user_agent)
                + lp(request_id) + lp(payload_text) + prev_hash
    lp(v)     = <UTF-8 byte length of v> ":" v "|"      (length-prefixed: no ambiguity)
    hash      = hex SHA-256 of the UTF-8 canonical bytes

- time: UTC with exactly six fractional digits, e.g. "2026-11-21T22:40:16.000123Z";
- ip: the address text, or "" when there is none;
- payload_text: the payload in PostgreSQL's jsonb text form (keys sorted by length then
  bytes, ", " and ": " separators). Exports carry it verbatim as `payload_text`;
- prev_hash: 64 hex digits; the first event of a chain links to 64 zeros.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

VERSION = "tenantry.audit.v1"
GENESIS = "0" * 64
# Hashed fields, in order (each a string; seq as decimal text).
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
    "payload_text",
)


def lp(value: str) -> str:
    return f"{len(value.encode())}:{value}|"


def canonical(values: Sequence[Any], prev_hash: str) -> bytes:
    """`values` in FIELDS order (None counts as "")."""
    body = "".join(lp("" if value is None else str(value)) for value in values)
    return f"{VERSION}|{body}{prev_hash}".encode()


def event_hash(values: Sequence[Any], prev_hash: str) -> str:
    return hashlib.sha256(canonical(values, prev_hash)).hexdigest()


def hash_with_rest(seq: int, rest: str, prev_hash: str) -> str:
    """The chainer's fast form: `rest` is lp() of every field after seq (built in SQL)."""
    return hashlib.sha256(f"{VERSION}|{lp(str(seq))}{rest}{prev_hash}".encode()).hexdigest()


def hash_record(record: Mapping[str, Any]) -> str:
    return event_hash([record[name] for name in FIELDS], record["prev_hash"])


def checkpoint_message(*, chain: str, seq: int, hash: str, time: str) -> bytes:
    """The bytes an Ed25519 checkpoint signature covers."""
    return f"tenantry.audit.checkpoint.v1|{lp(chain)}{lp(str(seq))}{lp(hash)}{lp(time)}".encode()

"""Offline verifier for an audit export. No Django, no database: only the files.

    python -m compliance.verify export.jsonl checkpoint.json pubkey

- export.jsonl   a JSON Lines export (one event per line, as the portal writes it)
- checkpoint.json the signed checkpoint that came with the export
- pubkey         the portal's Ed25519 public key: base64 of the 32 raw bytes, or PEM

Checks: every event's hash is SHA-256 of its canonical content; consecutive seqs link
(`prev_hash` = previous `hash`); the checkpoint's Ed25519 signature is valid for `pubkey`;
the event at the checkpoint's seq has exactly the signed hash, and the events from the
first one up to it are contiguous. A checkpoint that signs a schema name (from before
stable chain ids) also requires every event up to its seq to carry that name in `tenant`; one
that signs a stable id (`tenant-<n>`, `public`) is bound by the signed hash alone, because
a tenant's events carry the schema name of their time, which a rename changes.
Prints OK or FAIL with the first bad seq.
Exit status: 0 OK, 1 FAIL, 2 usage error.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

from compliance.canonical import FIELDS, checkpoint_message, event_hash


class Failure(Exception):
    def __init__(self, seq: int | None, message: str) -> None:
        self.seq = seq
        super().__init__(message)


def load_public_key(data: bytes) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        return serialization.load_pem_public_key(text)
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


def check_signature(checkpoint: dict[str, Any], public_key: Any) -> None:
    from cryptography.exceptions import InvalidSignature

    message = checkpoint_message(
        chain=checkpoint["chain"],
        seq=int(checkpoint["seq"]),
        hash=checkpoint["hash"],
        time=checkpoint["time"],
    )
    try:
        public_key.verify(base64.b64decode(checkpoint["signature"]), message)
    except (InvalidSignature, ValueError) as exc:
        raise Failure(
            int(checkpoint["seq"]), "checkpoint signature is not valid for this public key"
        ) from exc


def _signs_a_schema_name(chain: str) -> bool:
    return chain != "public" and re.fullmatch(r"[_a-zA-Z][_a-zA-Z0-9]{0,62}", chain) is not None


def verify(export_path: Path, checkpoint: dict[str, Any], public_key: Any) -> tuple[int, int]:
    """Returns (events checked, checkpoint seq). Raises Failure."""
    check_signature(checkpoint, public_key)
    target_seq, target_hash = int(checkpoint["seq"]), checkpoint["hash"]
    by_schema = _signs_a_schema_name(str(checkpoint["chain"]))
    previous: dict[str, Any] | None = None
    reached = False
    count = 0
    with export_path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                record = json.loads(raw.decode("utf-8"))
                values = [record[name] for name in FIELDS]
                seq = int(record["seq"])
                prev_hash = record["prev_hash"]
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                seq_guess = (int(previous["seq"]) + 1) if previous else None
                raise Failure(seq_guess, f"line {number} is not a valid event: {exc}") from exc
            if by_schema and seq <= target_seq and record["tenant"] != checkpoint["chain"]:
                raise Failure(
                    seq, f"event belongs to chain {record['tenant']!r}, not {checkpoint['chain']!r}"
                )
            if event_hash(values, prev_hash) != record["hash"]:
                raise Failure(seq, "hash does not match the event's content")
            if "payload" in record and json.loads(record["payload_text"]) != record["payload"]:
                raise Failure(seq, "payload differs from the hashed payload_text")
            if previous is not None:
                if seq != int(previous["seq"]) + 1 and not reached:
                    raise Failure(int(previous["seq"]) + 1, "events are missing before the checkpoint")
                if seq == int(previous["seq"]) + 1 and record["prev_hash"] != previous["hash"]:
                    raise Failure(seq, "prev_hash does not link to the previous event")
            if seq == target_seq:
                if record["hash"] != target_hash:
                    raise Failure(seq, "event at the checkpoint's seq differs from the signed hash")
                reached = True
            previous = record
            count += 1
    if not reached:
        raise Failure(target_seq, "the export does not contain the checkpoint's seq: it cannot be anchored")
    return count, target_seq


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    export_path, checkpoint_path, key_path = (Path(arg) for arg in args)
    try:
        checkpoint = json.loads(checkpoint_path.read_text())
        public_key = load_public_key(key_path.read_bytes())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        count, seq = verify(export_path, checkpoint, public_key)
    except Failure as failure:
        where = f"first bad seq {failure.seq}: " if failure.seq is not None else ""
        print(f"FAIL: {where}{failure}")
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"OK: {count} events verified; chain {checkpoint['chain']} anchored at signed seq {seq}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

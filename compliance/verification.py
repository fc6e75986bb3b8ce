"""`audit_chain_verify()`: check the current schema's chain and name the first bad `seq`.

What is checked, from the anchor (genesis, or the retention checkpoint at the cut) on:

- seq is gap-free (a deleted row shows as "seq N missing");
- each row's `prev_hash` is the previous row's `hash` (reordered rows break this);
- each row's `hash` is the SHA-256 of its canonical content (an edited row breaks this);
- every trusted checkpoint (valid Ed25519 signature by a trusted key, and the write-once
  copy in storage says the same) matches the row at its seq. A chain rewritten with
  recomputed hashes still links, but no longer matches the signed checkpoint: the first
  bad seq is then the one after the last checkpoint that still matches;
- checkpoints that are not trusted (forged, or their storage copy is missing or differs)
  fail the verification: the rows they claim to cover cannot be vouched for.

Rows after the last trusted checkpoint are reported as `unsigned_tail` (linked and
hashed correctly, not yet covered by a signature). Unchained rows are `pending`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection

from compliance import checkpoints
from compliance.canonical import GENESIS, event_hash
from compliance.chain import chain_pending, current_schema, iter_chained, table
from compliance.models import AuditCheckpoint


@dataclass
class VerifyResult:
    chain: str
    ok: bool = True
    first_bad_seq: int | None = None
    reason: str = ""
    checked: int = 0
    anchor_seq: int = 0
    head_seq: int = 0
    last_trusted_checkpoint_seq: int | None = None
    unsigned_tail: int = 0
    pending: int = 0
    untrusted_checkpoints: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, seq: int, reason: str) -> None:
        if self.first_bad_seq is None or seq < self.first_bad_seq:
            self.first_bad_seq, self.reason = seq, reason
        self.ok = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.ok:
            return (
                f"OK: chain {self.chain} verified seq {self.anchor_seq + 1}..{self.head_seq} "
                f"({self.checked} events; last signed checkpoint {self.last_trusted_checkpoint_seq}; "
                f"{self.unsigned_tail} after it unsigned; {self.pending} pending)"
            )
        return f"FAIL: chain {self.chain}: first bad seq {self.first_bad_seq}: {self.reason}"


def _classify_checkpoints(result: VerifyResult, *, check_storage: bool) -> dict[int, AuditCheckpoint]:
    keys = checkpoints.trusted_keys()
    trusted: dict[int, AuditCheckpoint] = {}
    for checkpoint in AuditCheckpoint.objects.order_by("seq", "id"):
        problem = ""
        if checkpoint.chain != result.chain:
            problem = f"signed for chain {checkpoint.chain}"
        elif not checkpoints.signature_valid(checkpoint, keys=keys):
            problem = "its signature is not valid for a trusted key"
        elif check_storage and not checkpoints.stored_copy_matches(checkpoint):
            problem = "its write-once copy in storage is missing or different"
        if problem:
            result.untrusted_checkpoints.append(checkpoint.seq)
            earlier = [seq for seq in trusted if seq < checkpoint.seq]
            result.fail(
                (max(earlier) if earlier else 0) + 1,
                f"checkpoint at seq {checkpoint.seq} is not trusted: {problem}",
            )
            continue
        if checkpoint.seq in trusted and trusted[checkpoint.seq].hash != checkpoint.hash:
            result.fail(checkpoint.seq, f"two trusted checkpoints disagree at seq {checkpoint.seq}")
        trusted[checkpoint.seq] = checkpoint
    return trusted


def _anchor(result: VerifyResult, trusted: dict[int, AuditCheckpoint], *, from_last: bool) -> tuple[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(seq), max(seq) FROM {table()}")
        first, head = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {table()} WHERE hash IS NULL")
        result.pending = cursor.fetchone()[0]
    result.head_seq = head or 0
    cuts = sorted(seq for seq, c in trusted.items() if c.kind == AuditCheckpoint.Kind.RETENTION)
    if from_last:
        usable = [seq for seq in trusted if first is not None and first - 1 <= seq <= (head or 0)]
        if usable:
            seq = max(usable)
            return seq, trusted[seq].hash
    if first is None:
        return (cuts[-1], trusted[cuts[-1]].hash) if cuts else (0, GENESIS)
    if first == 1:
        return 0, GENESIS
    if first - 1 in cuts:
        return first - 1, trusted[first - 1].hash
    start = max([seq for seq in cuts if seq < first], default=0) + 1
    result.fail(start, f"seq {start}..{first - 1} missing and no retention checkpoint covers the cut")
    return first - 1, ""


def audit_chain_verify(
    *, from_last_checkpoint: bool = False, check_storage: bool = True, chain_first: bool = True
) -> VerifyResult:
    """Verify the current schema's chain. Never raises for a bad chain; read `.ok`."""
    started = time.monotonic()
    if chain_first:
        chain_pending()
    result = VerifyResult(chain=current_schema())
    trusted = _classify_checkpoints(result, check_storage=check_storage)
    anchor_seq, prev = _anchor(result, trusted, from_last=from_last_checkpoint)
    result.anchor_seq = anchor_seq
    last_good = anchor_seq if anchor_seq in trusted or anchor_seq == 0 else None
    expected = anchor_seq + 1
    for row in iter_chained(after_seq=anchor_seq):
        seq = row[1]
        if seq != expected:
            result.fail(expected, f"seq {expected} is missing (next present is {seq})")
            break
        if row[-2] != prev:
            result.fail(seq, f"prev_hash of seq {seq} does not link to seq {seq - 1}")
            break
        if event_hash(row[1:-1]) != row[-1]:
            result.fail(seq, f"hash of seq {seq} does not match its content")
            break
        signed = trusted.get(seq)
        if signed is not None:
            if signed.hash != row[-1]:
                start = (last_good or anchor_seq) + 1
                result.fail(
                    start,
                    f"chain rewritten after seq {start - 1}: seq {seq} differs from its signed checkpoint",
                )
                break
            last_good = seq
        prev = row[-1]
        expected += 1
        result.checked += 1
    beyond = [seq for seq in trusted if seq > result.head_seq]
    if beyond and result.ok:
        result.fail(result.head_seq + 1, f"checkpoint at seq {max(beyond)} signs events that are missing")
    trusted_seqs = [seq for seq in trusted if seq <= result.head_seq]
    result.last_trusted_checkpoint_seq = max(trusted_seqs) if trusted_seqs else None
    result.unsigned_tail = result.head_seq - (result.last_trusted_checkpoint_seq or 0) if result.ok else 0
    result.seconds = round(time.monotonic() - started, 3)
    return result

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

from django.db import connection, transaction

from compliance import checkpoints
from compliance.canonical import GENESIS
from compliance.chain import HASH_SQL, ROW_LATERAL, chain_pending, current_schema, table
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
    names: set[str] | None = None  # looked up once there is a checkpoint to check
    trusted: dict[int, AuditCheckpoint] = {}
    for checkpoint in AuditCheckpoint.objects.order_by("seq", "id"):
        problem = ""
        names = checkpoints.chain_names() if names is None else names
        if checkpoint.chain not in names:
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


# One pass in the database: recompute every hash (sha256 in C), check each link and each
# seq step, and return only the first problem. Rows are read in seq order (unique index).
_FIRST_BAD_HASH_SQL = "SELECT min(e.seq) FROM {table} e, {lateral} WHERE e.seq > %s AND e.hash <> {hash_sql}"
_FIRST_BAD_LINK_SQL = """
SELECT seq, pseq, prev_hash IS DISTINCT FROM coalesce(phash, %(prev)s) AS bad_link FROM (
  SELECT seq, prev_hash, lag(seq) OVER w AS pseq, lag(hash) OVER w AS phash
  FROM {table} WHERE seq > %(anchor)s WINDOW w AS (ORDER BY seq)
) rows
WHERE seq <> coalesce(pseq, %(anchor)s) + 1 OR prev_hash IS DISTINCT FROM coalesce(phash, %(prev)s)
ORDER BY seq LIMIT 1
"""


def _check_rows(result: VerifyResult, anchor_seq: int, prev: str) -> None:
    """Two passes in the database: links and seq steps (window), then every hash (C sha256)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Re-hashing is CPU-bound: let PostgreSQL split the scan across workers.
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 4")
        cursor.execute("SET LOCAL parallel_setup_cost = 0")
        cursor.execute("SET LOCAL parallel_tuple_cost = 0")
        cursor.execute(_FIRST_BAD_LINK_SQL.format(table=table()), {"anchor": anchor_seq, "prev": prev})
        link = cursor.fetchone()
        cursor.execute(
            _FIRST_BAD_HASH_SQL.format(table=table(), lateral=ROW_LATERAL, hash_sql=HASH_SQL), [anchor_seq]
        )
        bad_hash = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {table()} WHERE seq > %s", [anchor_seq])
        result.checked = cursor.fetchone()[0]
    if link is not None:
        seq, pseq, bad_link = link
        expected = (pseq if pseq is not None else anchor_seq) + 1
        if seq != expected:
            result.fail(expected, f"seq {expected} is missing (next present is {seq})")
        elif bad_link:
            result.fail(seq, f"prev_hash of seq {seq} does not link to seq {seq - 1}")
    if bad_hash is not None:
        result.fail(bad_hash, f"hash of seq {bad_hash} does not match its content")


def _check_checkpoints(result: VerifyResult, trusted: dict[int, AuditCheckpoint], anchor_seq: int) -> None:
    """Each trusted checkpoint must match its row: a rewritten chain links but differs here."""
    seqs = sorted(seq for seq in trusted if seq > anchor_seq)
    if not seqs:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT seq, hash FROM {table()} WHERE seq = ANY(%s)", [seqs])
        stored = dict(cursor.fetchall())
    last_good = anchor_seq
    for seq in seqs:
        if seq not in stored:
            continue  # a missing row is reported by the row check (or "beyond the head")
        if stored[seq] != trusted[seq].hash:
            result.fail(
                last_good + 1,
                f"chain rewritten after seq {last_good}: seq {seq} differs from its signed checkpoint",
            )
            return
        last_good = seq


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
    _check_rows(result, anchor_seq, prev)
    _check_checkpoints(result, trusted, anchor_seq)
    beyond = [seq for seq in trusted if seq > result.head_seq]
    if beyond and result.ok:
        result.fail(result.head_seq + 1, f"checkpoint at seq {max(beyond)} signs events that are missing")
    trusted_seqs = [seq for seq in trusted if seq <= result.head_seq]
    result.last_trusted_checkpoint_seq = max(trusted_seqs) if trusted_seqs else None
    result.unsigned_tail = result.head_seq - (result.last_trusted_checkpoint_seq or 0) if result.ok else 0
    result.seconds = round(time.monotonic() - started, 3)
    return result

"""Retention pruning that keeps the chain verifiable.

`retention_prune()` (daily beat, per tenant):
1. cut = the last seq whose event is older than the retention period (every row up to
   the cut is older; later rows are kept even if a few are older, out of commit order);
2. sign a *retention checkpoint* at (cut, hash of the row at the cut), stored write-once;
3. in the same transaction, `SET LOCAL compliance.audit_prune = 'on'` and delete the rows
   with seq <= cut. The trigger allows exactly that and nothing else.

Verification then anchors on the retention checkpoint: the first remaining row's
`prev_hash` must equal the signed hash at the cut. The head is never pruned, so the
chainer always has a predecessor.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from compliance import checkpoints
from compliance.chain import chain_pending, table
from compliance.models import AuditCheckpoint
from compliance.selectors import audit_settings


def prune_cut(*, older_than: dt.datetime) -> tuple[int, str] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT min(seq) FROM {table()} WHERE seq IS NOT NULL AND occurred_at >= %s", [older_than]
        )
        first_kept = cursor.fetchone()[0]
        cursor.execute(f"SELECT max(seq) FROM {table()}")
        head = cursor.fetchone()[0]
        if head is None:
            return None
        cut = (first_kept - 1) if first_kept is not None else head - 1  # never prune the head
        if cut < 1:
            return None
        cursor.execute(f"SELECT hash FROM {table()} WHERE seq = %s", [cut])
        row = cursor.fetchone()
    return (cut, row[0]) if row else None


def retention_prune(*, now: dt.datetime | None = None) -> dict[str, Any]:
    chain_pending()
    days = audit_settings().retention_days
    older_than = (now or timezone.now()) - dt.timedelta(days=days)
    cut = prune_cut(older_than=older_than)
    if cut is None:
        return {"pruned": 0, "cut": None, "retention_days": days}
    with transaction.atomic():
        checkpoint = checkpoints.checkpoint_create(
            kind=AuditCheckpoint.Kind.RETENTION, at=checkpoints.Head(seq=cut[0], hash=cut[1])
        )
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL compliance.audit_prune = 'on'")
            cursor.execute(f"DELETE FROM {table()} WHERE seq <= %s", [checkpoint.seq])
            pruned = cursor.rowcount
            cursor.execute("SET LOCAL compliance.audit_prune = 'off'")
        from compliance import audit

        audit.record(
            action="audit.retention.prune",
            payload={"cut_seq": checkpoint.seq, "pruned": pruned, "retention_days": days},
        )
    return {"pruned": pruned, "cut": checkpoint.seq, "retention_days": days}

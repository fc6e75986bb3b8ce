"""Log lines: cleaning what agents send, storing chunks, retention and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from deployments import conf
from deployments.agent.protocol import LEVELS, detect_level
from deployments.models import Agent, LogChunk

_STREAMS = frozenset(("stdout", "stderr", "agent"))
_LEVELS = frozenset(LEVELS)


def clean_lines(raw: Any) -> list[list]:
    """[[ts, level, stream, text], …], bounded; anything malformed is dropped."""
    if not isinstance(raw, list):
        return []
    max_lines, max_chars = conf.get("DEPLOY_LOG_BATCH_MAX_LINES"), conf.get("DEPLOY_LOG_LINE_MAX_CHARS")
    lines = []
    for item in raw[:max_lines]:
        try:
            ts, level, stream, text = item
        except (TypeError, ValueError):
            continue
        if type(text) is not str or type(ts) not in (float, int):
            continue
        if stream not in _STREAMS:
            stream = "stdout"
        if level not in _LEVELS:
            level = detect_level(text, stream)
        lines.append([ts, level, stream, text if len(text) <= max_chars else text[:max_chars]])
    return lines


@transaction.atomic
def chunk_store(*, agent_id: int, seq: int, run_id: int | None, lines: list[list]) -> None:
    """Persist one batch and advance the agent's sequence number in the same transaction."""
    if lines:
        LogChunk.objects.create(agent_id=agent_id, run_id=run_id, seq=seq, line_count=len(lines), lines=lines)
    Agent.objects.filter(pk=agent_id, last_seq__lt=seq).update(last_seq=seq)


@transaction.atomic
def chunks_store(*, agent_id: int, batches: list[tuple[int, int | None, list[list]]]) -> None:
    """Persist several batches in one write (the agent socket's background store)."""
    LogChunk.objects.bulk_create(
        [
            LogChunk(agent_id=agent_id, run_id=run_id, seq=seq, line_count=len(lines), lines=lines)
            for seq, run_id, lines in batches
            if lines
        ]
    )
    top = max(seq for seq, _, _ in batches)
    Agent.objects.filter(pk=agent_id, last_seq__lt=top).update(last_seq=top)


def logs_purge(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=conf.get("DEPLOY_LOG_RETENTION_DAYS"))
    deleted, _ = LogChunk.objects.filter(received_at__lt=cutoff).delete()
    return deleted


def lines_matching(
    chunks: QuerySet[LogChunk], *, level: str = "", search: str = "", limit: int = 100_000
) -> Iterator[tuple[LogChunk, list]]:
    wanted = LEVELS[LEVELS.index(level) :] if level in LEVELS else LEVELS
    needle = search.lower()
    count = 0
    for chunk in chunks.order_by("received_at", "id").iterator(chunk_size=200):
        for line in chunk.lines:
            if line[1] in wanted and (not needle or needle in line[3].lower()):
                yield chunk, line
                count += 1
                if count >= limit:
                    return


def csv_rows(chunks: QuerySet[LogChunk], *, level: str = "", search: str = "") -> Iterator[str]:
    """CSV text, row by row (for a streaming response). Cells that look like formulas are defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        value = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return value

    writer.writerow(["time", "agent", "run", "level", "stream", "text"])
    yield flush()
    for chunk, line in lines_matching(chunks, level=level, search=search):
        text = line[3]
        if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
            text = "'" + text
        when = datetime.fromtimestamp(line[0], tz=UTC).isoformat()
        writer.writerow([when, chunk.agent_id, chunk.run_id or "", line[1], line[2], text])
        yield flush()

"""Audit exports: CSV, JSON Lines, CEF and RFC 5424 syslog, streamed, with a manifest.

Rows come from a server-side cursor in seq order and are written to a temporary file
while it is hashed, so memory stays flat whatever the range. The file and its manifest are
then stored write-once under `audit/exports/<id>/` (schema-prefixed). Before exporting, the
builder signs a checkpoint at the head, so an unfiltered JSON Lines export is verifiable
offline end to end: `python -m compliance.verify export.jsonl checkpoint.json pubkey`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.utils import timezone

from compliance import archive, checkpoints
from compliance.canonical import FIELDS
from compliance.chain import iter_chained
from compliance.models import AuditCheckpoint, AuditExport
from compliance.selectors import filter_sql

EXPORT_FIELDS = (*FIELDS, "prev_hash", "hash")


def as_record(row: tuple[Any, ...]) -> dict[str, Any]:
    """A chained row (id, *FIELDS, prev_hash, hash) as the exported dict.

    `payload_text` is what was hashed; `payload` is the same JSON, parsed, for readers
    (the offline verifier checks that the two agree).
    """
    record = dict(zip(EXPORT_FIELDS, row[1:], strict=True))
    record["payload"] = json.loads(record["payload_text"])
    return record


def jsonl_line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _cef_header(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|")


def _cef_ext(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return str(text).replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def cef_line(record: dict[str, Any]) -> str:
    severity = 7 if any(word in record["action"] for word in ("delete", "reveal", "destroy", "fail")) else 3
    extension = {
        "rt": record["time"],
        "suser": record["actor_label"],
        "suid": record["actor_id"],
        "cs1Label": "actorType",
        "cs1": record["actor_type"],
        "cs2Label": "tenant",
        "cs2": record["tenant"],
        "cs3Label": "seq",
        "cs3": record["seq"],
        "cs4Label": "hash",
        "cs4": record["hash"],
        "cs5Label": "requestId",
        "cs5": record["request_id"],
        "src": record["ip"] or "",
        "requestClientApplication": record["user_agent"],
        "duser": record["target_label"],
        "cs6Label": "target",
        "cs6": f"{record['target_type']}:{record['target_id']}",
        "msg": record["payload_text"],
    }
    ext = " ".join(f"{key}={_cef_ext(value)}" for key, value in extension.items())
    action = _cef_header(record["action"])
    return f"CEF:0|Tenantry|Portal|1.0|{action}|{action}|{severity}|{ext}\n"


def _sd_value(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_line(record: dict[str, Any], *, hostname: str | None = None) -> str:
    """RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG (facility 13 "log audit", info)."""
    pri = 13 * 8 + 6
    host = (hostname or socket.gethostname() or "-")[:255].replace(" ", "_")
    sd_params = {
        "seq": record["seq"],
        "hash": record["hash"],
        "prev": record["prev_hash"],
        "tenant": record["tenant"],
        "actorType": record["actor_type"],
        "actor": record["actor_label"],
        "actorId": record["actor_id"],
        "target": f"{record['target_type']}:{record['target_id']}",
        "ip": record["ip"] or "",
        "requestId": record["request_id"],
    }
    sd = "[audit@32473 " + " ".join(f'{key}="{_sd_value(value)}"' for key, value in sd_params.items()) + "]"
    msgid = record["action"][:32].replace(" ", "_") or "-"
    message = record["payload_text"]
    return f"<{pri}>1 {record['time']} {host} tenantry - {msgid} {sd} {message}\n"


class _CsvLine:
    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)

    def header(self) -> str:
        self.writer.writerow(EXPORT_FIELDS)
        return self._take()

    def __call__(self, record: dict[str, Any]) -> str:
        row = [
            json.dumps(record[name], ensure_ascii=False, separators=(",", ":"))
            if name == "payload"
            else record[name]
            for name in EXPORT_FIELDS
        ]
        # Formula injection: a spreadsheet must never execute a cell of an audit export.
        row = [
            f"'{cell}" if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@") else cell for cell in row
        ]
        self.writer.writerow(row)
        return self._take()

    def _take(self) -> str:
        value = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return value


def formatter(fmt: str) -> tuple[Callable[[dict[str, Any]], str], str, str]:
    """(line function, header, file extension)."""
    if fmt == AuditExport.Format.CSV:
        line = _CsvLine()
        return line, line.header(), "csv"
    if fmt == AuditExport.Format.JSONL:
        return jsonl_line, "", "jsonl"
    if fmt == AuditExport.Format.CEF:
        return cef_line, "", "cef"
    if fmt == AuditExport.Format.SYSLOG:
        return syslog_line, "", "log"
    raise ValueError(f"unknown export format {fmt!r}")


def export_rows(*, filters: dict[str, Any], until_seq: int) -> Iterator[dict[str, Any]]:
    where, params = filter_sql(filters)
    for row in iter_chained(until_seq=until_seq, where=where, params=params):
        yield as_record(row)


def write_lines(handle: Any, lines: Iterable[str], digest: Any) -> None:
    for text in lines:
        data = text.encode()
        digest.update(data)
        handle.write(data)


def export_build(*, export: AuditExport) -> AuditExport:
    """Build the export file and manifest (called by the Celery task)."""
    export.status = AuditExport.Status.RUNNING
    export.save(update_fields=["status"])
    checkpoint = checkpoints.checkpoint_create(kind=AuditCheckpoint.Kind.EXPORT)
    filters = dict(export.filters) | {"since": export.since, "until": export.until}
    line, header, extension = formatter(export.format)
    digest = hashlib.sha256()
    count, first_seq, last_seq = 0, None, None
    with tempfile.TemporaryFile() as handle:
        write_lines(handle, [header] if header else [], digest)
        for record in export_rows(filters=filters, until_seq=checkpoint.seq):
            write_lines(handle, [line(record)], digest)
            count += 1
            first_seq = record["seq"] if first_seq is None else first_seq
            last_seq = record["seq"]
        handle.seek(0)
        base = f"audit/exports/{export.pk}-{timezone.now():%Y%m%dT%H%M%S}"
        export.file_name = archive.put_once(f"{base}/events.{extension}", handle)
    export.file_sha256 = digest.hexdigest()
    export.row_count, export.first_seq, export.last_seq = count, first_seq, last_seq
    export.checkpoint = checkpoint
    manifest = {
        "type": "tenantry.audit.export",
        "export_id": export.pk,
        "chain": checkpoint.chain,
        "format": export.format,
        "since": export.since.isoformat(),
        "until": export.until.isoformat(),
        "filters": export.filters,
        "row_count": count,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "files": {export.file_name.rsplit("/", 1)[-1]: {"sha256": export.file_sha256}},
        "checkpoint": checkpoints.document(checkpoint),
        "public_key": checkpoints.public_key_b64(),
        "hash_algorithm": "sha256 over canonical JSON (see compliance/canonical.py)",
        "created_at": timezone.now().isoformat(),
    }
    export.manifest_name = archive.put_once(f"{base}/manifest.json", json.dumps(manifest, indent=2).encode())
    archive.put_once(
        f"{base}/checkpoint.json", json.dumps(checkpoints.document(checkpoint), indent=2).encode()
    )
    export.status = AuditExport.Status.DONE
    export.finished_at = timezone.now()
    export.error = ""
    export.save()
    return export

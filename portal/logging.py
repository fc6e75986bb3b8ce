"""Structured JSON logs: one object a line, with the tenant and the request id."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from portal.context import current_request_meta


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        meta = current_request_meta()
        record.request_id = meta.get("request_id", "-")
        try:
            from django.db import connection

            record.tenant = getattr(connection, "schema_name", "-") or "-"
        except Exception:  # logging must never fail because Django is not ready
            record.tenant = "-"
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "tenant": getattr(record, "tenant", "-"),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

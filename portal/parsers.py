"""Request parsers. Kept apart from portal.api: DRF reads DEFAULT_PARSER_CLASSES while
`rest_framework.views` is being imported, so this module must not import DRF's views."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.parsers import JSONParser

NUL_MESSAGE = "Text may not contain NUL (\\x00) characters."


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


class StrictJSONParser(JSONParser):
    """JSON bodies whose strings hold NUL bytes are a 400: PostgreSQL cannot store them, and
    without this check any field that reaches a query unvalidated would answer 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if _has_nul(data):
            raise exceptions.ParseError(NUL_MESSAGE)
        return data

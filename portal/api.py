"""API conventions shared by every app: pagination, one error body, field allow-lists.

Every error from `/api/v1/` has the same shape:

    {"error": {"code": "validation_error", "message": "...", "fields": {"name": ["..."]}}}
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions, pagination, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from portal.parsers import NUL_MESSAGE

# Fields no API write may ever set, whatever a serializer declares.
PROTECTED_FIELDS = frozenset({"id", "tenant", "tenant_id", "schema_name", "created_by", "is_system"})


class CursorPagination(pagination.CursorPagination):
    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200


def _code(exc: Exception) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "validation_error"
    codes = getattr(exc, "default_code", None)
    return str(codes or "error")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        if NON_FIELD_ERRORS in detail:  # Django's key for form-wide errors (e.g. plan limits)
            detail["non_field_errors"] = detail.pop(NON_FIELD_ERRORS)
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, ValueError | DataError) and "NUL (0x00)" in str(exc):
        # Query strings and form fields: the same 400 as StrictJSONParser gives bodies.
        exc = exceptions.ParseError(NUL_MESSAGE)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    body: dict[str, Any] = {"code": _code(exc)}
    if isinstance(exc, exceptions.ValidationError) and isinstance(data, dict):
        non_field = data.pop("non_field_errors", None)
        body["message"] = " ".join(map(str, non_field)) if non_field else "Some fields are not valid."
        body["fields"] = data
    elif isinstance(data, dict) and "detail" in data:
        body["message"] = str(data["detail"])
        if hasattr(data["detail"], "code"):
            body["code"] = data["detail"].code
    else:
        body["message"] = "Request is not valid."
        body["fields"] = {"non_field_errors": data}
    response.data = {"error": body}
    return response


class AllowListModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that refuses to make protected fields writable."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name in PROTECTED_FIELDS & set(fields):
            fields[name].read_only = True
        return fields

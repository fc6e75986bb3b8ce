"""Policy conditions: a small JSON language, its schema and its evaluator.

A policy is *violated* when its conditions match the context of an action:

    {"all": [{"field": "environment", "op": "eq", "value": "production"},
             {"field": "approved_by", "op": "falsy"}]}

Nodes: {"all": [...]}, {"any": [...]}, {"not": node}, or a leaf {"field", "op", "value"}.
A top-level "timezone" (IANA name) sets the zone of the derived fields `now.weekday`
("monday".."sunday") and `now.time` ("HH:MM"); without it they use the tenant's zone
(`Tenant.timezone` when the tenant model has one), else UTC. Other derived fields: `actor.role`,
`actor.has_mfa` (a confirmed TOTP device in this tenant) and `command.program` (the first
word of a terminal command). Dotted fields walk dicts, lists and attributes.
"""

from __future__ import annotations

import re
import shlex
import zoneinfo
from datetime import datetime
from typing import Any

import jsonschema
from django.core.exceptions import ValidationError
from django.utils import timezone

OPS_WITH_VALUE = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "matches", "contains")
OPS_WITHOUT_VALUE = ("truthy", "falsy", "exists", "missing")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_LEAF = {
    "type": "object",
    "required": ["field", "op"],
    "additionalProperties": False,
    "properties": {
        "field": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[A-Za-z0-9_.]+$"},
        "op": {"enum": [*OPS_WITH_VALUE, *OPS_WITHOUT_VALUE]},
        "value": {},
    },
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "node": {
            "oneOf": [
                {"$ref": "#/$defs/leaf"},
                {
                    "type": "object",
                    "required": ["all"],
                    "additionalProperties": False,
                    "properties": {
                        "all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/node"}}
                    },
                },
                {
                    "type": "object",
                    "required": ["any"],
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/node"}}
                    },
                },
                {
                    "type": "object",
                    "required": ["not"],
                    "additionalProperties": False,
                    "properties": {"not": {"$ref": "#/$defs/node"}},
                },
            ]
        },
        "leaf": _LEAF,
    },
    "type": "object",
    "minProperties": 1,
    "maxProperties": 2,
    "additionalProperties": False,
    "properties": {
        "timezone": {"type": "string"},
        "all": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/node"}},
        "any": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/node"}},
        "not": {"$ref": "#/$defs/node"},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def validate_conditions(conditions: Any) -> dict[str, Any]:
    """Return the conditions if valid; else raise ValidationError with a readable message."""
    if not isinstance(conditions, dict):
        raise ValidationError({"conditions": 'Conditions must be a JSON object, e.g. {"all": [...]}.'})
    body = {k: v for k, v in conditions.items() if k != "timezone"}
    if "field" in body:
        body = {"all": [body]}
    errors = sorted(_VALIDATOR.iter_errors({**body, **_tz_part(conditions)}), key=lambda e: list(e.path))
    if not body or len(body) != 1 or errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) if errors else ""
        detail = errors[0].message if errors else "exactly one of all / any / not is required"
        raise ValidationError(
            {"conditions": f"Conditions are not valid{f' at {where}' if where else ''}: {detail[:200]}"}
        )
    tz = conditions.get("timezone")
    if tz is not None:
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError({"conditions": f"Unknown timezone {tz!r}."}) from exc
    _check_values(body)
    return conditions


def _tz_part(conditions: dict[str, Any]) -> dict[str, Any]:
    return {"timezone": conditions["timezone"]} if "timezone" in conditions else {}


def _check_values(node: dict[str, Any]) -> None:
    for key in ("all", "any"):
        for child in node.get(key, []):
            _check_values(child)
    if "not" in node:
        _check_values(node["not"])
    if "op" in node:
        op = node["op"]
        if op in OPS_WITH_VALUE and "value" not in node:
            raise ValidationError({"conditions": f"Operator {op!r} on {node['field']!r} needs a value."})
        if op in ("in", "not_in") and not isinstance(node["value"], list):
            raise ValidationError({"conditions": f"Operator {op!r} needs a list value."})
        if op == "matches":
            try:
                re.compile(str(node["value"]))
            except re.error as exc:
                raise ValidationError({"conditions": f"Bad regular expression: {exc}"}) from exc


class Context:
    """Field lookup over an action's context, with the derived fields described above."""

    def __init__(self, data: dict[str, Any], *, tz: str | None = None, now: datetime | None = None) -> None:
        self.data = data
        self.now = timezone.localtime(
            data.get("now") or now or timezone.now(), zoneinfo.ZoneInfo(tz or "UTC")
        )

    def get(self, field: str) -> tuple[bool, Any]:
        if field == "now.weekday":
            return True, WEEKDAYS[self.now.weekday()]
        if field == "now.time":
            return True, self.now.strftime("%H:%M")
        if field == "actor.has_mfa":
            return True, actor_has_mfa(self.data.get("actor"))
        if field == "command.program":
            return True, command_program(self.data.get("command"))
        current: Any = self.data
        for part in field.split("."):
            found, current = _step(current, part)
            if not found:
                return False, None
        return True, current


def _step(obj: Any, part: str) -> tuple[bool, Any]:
    if isinstance(obj, dict):
        return (part in obj), obj.get(part)
    if isinstance(obj, list | tuple):
        if part.isdigit() and int(part) < len(obj):
            return True, obj[int(part)]
        return False, None
    if obj is None or part.startswith("_"):
        return False, None
    if hasattr(obj, part):
        return True, getattr(obj, part)
    return False, None


def actor_has_mfa(actor: Any) -> bool:
    if actor is None or not getattr(actor, "pk", None):
        return False
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.filter(user_id=actor.pk, confirmed=True).exists()


def command_program(command: Any) -> str:
    if isinstance(command, list | tuple):
        return str(command[0]) if command else ""
    if isinstance(command, str):
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        return words[0] if words else ""
    return ""


def matches(node: dict[str, Any], ctx: Context) -> bool:
    if "all" in node:
        return all(matches(child, ctx) for child in node["all"])
    if "any" in node:
        return any(matches(child, ctx) for child in node["any"])
    if "not" in node:
        return not matches(node["not"], ctx)
    found, actual = ctx.get(node["field"])
    return _compare(node["op"], found, actual, node.get("value"))


def _compare(op: str, found: bool, actual: Any, expected: Any) -> bool:
    if op == "exists":
        return found and actual is not None
    if op == "missing":
        return not found or actual is None
    if op == "truthy":
        return bool(actual)
    if op == "falsy":
        return not actual
    if not found:
        return op in ("ne", "not_in")
    actual = _plain(actual)
    try:
        if op == "eq":
            return actual == expected
        if op == "ne":
            return actual != expected
        if op == "in":
            return actual in expected
        if op == "not_in":
            return actual not in expected
        if op == "contains":
            return expected in actual
        if op == "matches":
            return re.search(str(expected), str(actual)) is not None
        if op == "gt":
            return actual > expected
        if op == "gte":
            return actual >= expected
        if op == "lt":
            return actual < expected
        return actual <= expected
    except TypeError:
        return False


def _plain(value: Any) -> Any:
    """Plain JSON values compare as they are; other objects by their string form."""
    if isinstance(value, str | int | float | bool | list | dict | tuple) or value is None:
        return value
    return str(value)


def policy_matches(conditions: dict[str, Any], context: dict[str, Any]) -> bool:
    body = {k: v for k, v in conditions.items() if k != "timezone"}
    if "field" in body:
        body = {"all": [body]}
    return matches(body, Context(context, tz=conditions.get("timezone") or tenant_timezone()))


def tenant_timezone() -> str:
    """The tenant's own zone when the tenant model has one (`Tenant.timezone`), else UTC."""
    from django.db import connection

    name = getattr(getattr(connection, "tenant", None), "timezone", None)
    if isinstance(name, str) and name:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return "UTC"
        return name
    return "UTC"

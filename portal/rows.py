"""Model instances from one hand-written SELECT, for the few reads on every request.

Compiling an ORM query costs more CPU than its round trip: `User.objects.get(pk=…)` takes
~350 µs of which ~260 µs is Django building and compiling the query, and django-otp's device
lookup ~500 µs. The session's user and OTP device are read on every signed-in request, the
revealed secret on every reveal, so these reads skip the compiler:

- the column list, attribute names and converters are computed once per model from
  `_meta` (the fields' and the backend's own converters, as the ORM applies them);
- rows become ordinary model instances through `Model.from_db`;
- table names are unqualified, so the tenant's `search_path` picks the schema exactly as it
  does for the ORM (a tenant never reads another tenant's row).

Everything else stays on the ORM.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection

BIGINT_MAX = 2**63 - 1
M = TypeVar("M")
R = TypeVar("R")


@dataclass(frozen=True)
class Reader:
    columns: str  # "table"."column", … for every concrete field
    attnames: list[str]
    converters: list[tuple[Any, list[Any]]]  # (column expression, converter functions)
    table: str
    pk_column: str


@functools.cache
def reader(model: type[Any]) -> Reader:
    """The SELECT list, attribute names and converters of every concrete column of `model`."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    fields = model._meta.concrete_fields
    converters = []
    for field in fields:
        col = field.get_col(model._meta.db_table)
        converters.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
    return Reader(
        columns=", ".join(f"{table}.{quote(f.column)}" for f in fields),
        attnames=[f.attname for f in fields],
        converters=converters,
        table=table,
        pk_column=f"{table}.{quote(model._meta.pk.column)}",
    )


def instance(model: type[M], values: tuple[Any, ...] | list[Any]) -> M:
    """A model instance from the values of `reader(model).columns`, converted as the ORM does."""
    read = reader(model)
    row = []
    for value, (col, functions) in zip(values, read.converters, strict=True):
        for function in functions:
            value = function(value, col, connection)
        row.append(value)
    return model.from_db(connection.alias, read.attnames, row)  # type: ignore[attr-defined]


_INTEGER_KEYS = ("AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField")


def _integer_pk_reader(model: type[Any]) -> Reader:
    if model._meta.pk.get_internal_type() not in _INTEGER_KEYS:
        raise TypeError(f"{model.__name__} has no integer primary key")
    return reader(model)


def _bigint(value: Any) -> int | None:
    """`value` as an id, or None when it is not an integer in the bigint range (such an id
    matches no row, as for the ORM)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if -BIGINT_MAX - 1 <= number <= BIGINT_MAX else None


@functools.cache
def _by_pk_sql(model: type[Any]) -> str:
    read = _integer_pk_reader(model)
    return f"SELECT {read.columns} FROM {read.table} WHERE {read.pk_column} = %s"


def get_by_pk(model: type[M], pk: Any) -> M | None:
    """`model._default_manager.filter(pk=pk).first()` for an integer primary key, in one cheap
    read. An id that is not an integer in the bigint range matches nothing, as for the ORM."""
    pk = _bigint(pk)
    if pk is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_by_pk_sql(model), [pk])
        row = cursor.fetchone()
    return None if row is None else instance(model, row)


@functools.cache
def _with_related_sql(model: type[Any], related: type[Any], fk: str) -> str:
    owner, other = _integer_pk_reader(model), _integer_pk_reader(related)
    fk_column = f"{other.table}.{connection.ops.quote_name(related._meta.get_field(fk).column)}"
    return (
        f"SELECT {owner.columns}, {other.columns} FROM {owner.table} "
        f"LEFT JOIN {other.table} ON {other.pk_column} = %s AND {fk_column} = {owner.pk_column} "
        f"WHERE {owner.pk_column} = %s"
    )


def get_by_pk_with(
    model: type[M], pk: Any, related: type[R], related_pk: Any, *, fk: str
) -> tuple[M | None, R | None]:
    """`get_by_pk(model, pk)`, and the `related` row `related_pk` if its foreign key `fk`
    points at that row, in one read: (None, None) when there is no such `model` row, and
    (row, None) when the related row is missing or belongs to another."""
    related_pk = _bigint(related_pk)
    if related_pk is None:  # no such related row
        return get_by_pk(model, pk), None
    pk = _bigint(pk)
    if pk is None:
        return None, None
    with connection.cursor() as cursor:
        cursor.execute(_with_related_sql(model, related, fk), [related_pk, pk])
        row = cursor.fetchone()
    if row is None:
        return None, None
    width = len(reader(model).attnames)
    owner, other = row[:width], row[width:]
    other_pk_index = reader(related).attnames.index(related._meta.pk.attname)
    return instance(model, owner), (None if other[other_pk_index] is None else instance(related, other))

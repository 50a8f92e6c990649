"""One read for the hot, read-only addresses (the progress polls, /healthz), without Django's per-request
connection health check.

With persistent connections and CONN_HEALTH_CHECKS on, the first query of every request is preceded by a
``SELECT 1`` round trip: as costly as the poll's own read. Here the read goes straight to the kept
connection; if that connection went bad since the last request (the database restarted, a proxy dropped
it), the error is caught, the connection closed, and the read made once more on a fresh one, so the caller
never sees it. A read that fails on a fresh or a healthy connection is a real error and is raised.
"""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, connection


def one_row(sql: str, params=()) -> tuple | None:
    """The first row of a read-only ``sql``, or None when there is none."""
    fresh = connection.connection is None
    connection.health_check_done = True  # a new connection is healthy; a kept one is checked by its own use
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    except (OperationalError, InterfaceError):
        if fresh or connection.in_atomic_block or connection.is_usable():
            raise
        connection.close()
        return one_row(sql, params)


def instance_from(model, names: tuple[str, ...], values) -> object:
    """A ``model`` instance from a row of its columns ``names`` (attnames) read by one_row, with the values
    converted as the ORM converts them (datetimes and JSON on SQLite, JSON on PostgreSQL); the fields not
    read are deferred."""
    attnames, order, converters = _plan(model, names, connection.vendor)
    row = []
    for index, convert in zip(order, converters, strict=True):
        value = values[index]
        for converter, column in convert if value is not None else ():
            value = converter(value, column, connection)
        row.append(value)
    return model.from_db(connection.alias, attnames, row)


_PLANS: dict = {}


def _plan(model, names: tuple[str, ...], vendor: str):
    """(attnames in the model's field order, where each is in the row, each one's converters): Model.from_db
    takes the values of a partial row in the model's field order, whatever order they were read in."""
    key = (model, names, vendor)
    if key not in _PLANS:
        fields = [field for field in model._meta.concrete_fields if field.attname in names]
        converters = []
        for field in fields:
            column = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            converters.append([(each, column) for each in found])
        _PLANS[key] = ([field.attname for field in fields], [names.index(f.attname) for f in fields], converters)
    return _PLANS[key]

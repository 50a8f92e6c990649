"""Dates and times a person sends must be ones every database can store and compare. PostgreSQL accepts
UTC offsets only within ±15:59 (a parsed +16:00 reaching a query raises DataError), and a date at the edge
of Python's range overflows when it is converted to UTC or given a day more."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError

MAX_OFFSET = dt.timedelta(hours=15, minutes=59)
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(9998, 12, 31)
OUT_OF_RANGE = f"Choose a date from {EARLIEST.isoformat()} to {LATEST.isoformat()}."


def _offset_text(offset: dt.timedelta) -> str:
    sign = "-" if offset < dt.timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def date_check(value) -> None:
    """Validator for a date or a date and time: within EARLIEST..LATEST, with a UTC offset of at most ±15:59."""
    if isinstance(value, dt.datetime):
        offset = value.utcoffset()
        if offset is not None and abs(offset) > MAX_OFFSET:
            raise ValidationError(
                f"The time-zone offset {_offset_text(offset)} is out of range: offsets go from -15:59 to +15:59.",
                code="offset",
            )
        day = value.date()
    elif isinstance(value, dt.date):
        day = value
    else:
        return
    if not EARLIEST <= day <= LATEST:
        raise ValidationError(OUT_OF_RANGE, code="date_range")

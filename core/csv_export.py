"""The one CSV writer every export uses (payouts, ratings, the audit trail, a person's data export).

Every text cell is guarded against spreadsheet formulas: a cell that starts with = + - @, a tab or a carriage
return is run as a formula by Excel, LibreOffice and Google Sheets (CSV injection), so it gets a leading
apostrophe, which spreadsheets show as text. Numbers are written as numbers (a negative amount stays -25.00).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str | int | float | Decimal:
    """A value as a CSV cell that a spreadsheet shows and never runs."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose write() hands back what it is given, so rows can be streamed."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence | Mapping]) -> Iterator[str]:
    """The header line, then one line per row: a sequence in the header's order, or a mapping by column
    name (a missing column is empty). Lazy, for a StreamingHttpResponse."""
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow([csv_cell(name) for name in header])
    for row in rows:
        values = [row.get(name) for name in header] if isinstance(row, Mapping) else row
        yield writer.writerow([csv_cell(value) for value in values])


def csv_text(header: Sequence[str], rows: Iterable[Sequence | Mapping]) -> str:
    out = io.StringIO()
    out.writelines(csv_lines(header, rows))
    return out.getvalue()

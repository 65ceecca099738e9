"""CSV exports that a spreadsheet opens safely: one guard against formula injection for all."""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Mapping

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell starting like a formula is prefixed with ' so it stays text; others pass."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def unguard_cell(value: str) -> str:
    """The text `spreadsheet_safe` guarded, for files that come back (a roster export re-imports unchanged)."""
    if value[:1] == "'" and value[1:2] in _FORMULA_STARTS:
        return value[1:]
    return value


def csv_text(headers: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=headers, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: spreadsheet_safe(v) for k, v in row.items()})
    return out.getvalue()

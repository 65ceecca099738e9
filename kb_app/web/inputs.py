"""Input checks for pages and forms, below every route: the API's bodies and query strings are
checked by their pydantic models (`kb_app.web.contract`); this covers the rest.

- No query-string or form value (nor name) may hold a control character other than tab and line
  breaks: a NUL byte would otherwise reach the database (PostgreSQL refuses it with a 500).
- Whole numbers and dates from query strings are read with their bounds (`bounded_int`,
  `bounded_day`), so a 30-digit page number or 9999-12-31 is a 400, not an overflow.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Flask, abort, request

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_PAGE = 100_000
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 31)


def init_app(app: Flask) -> None:
    # First in line, before CSRF or the login form read the values.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_control_characters)


def refuse_control_characters() -> None:
    for source, values in (("query", request.args), ("form", request.form if _has_form() else None)):
        if values is None:
            continue
        for name, value in values.items(multi=True):
            if _FORBIDDEN.search(name) or _FORBIDDEN.search(value):
                abort(400, description=f"The {source} field {name[:40]!r} holds a control character.")


def _has_form() -> bool:
    return request.method in ("POST", "PUT", "PATCH") and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    )


def bounded_int(args, name: str, *, default: int | None, low: int, high: int) -> int | None:
    """A whole number from the query string within [low, high]; 400 otherwise."""
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[+-]?\d{1,12}", raw) or not low <= int(raw) <= high:
        abort(400, description=f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def page_number(args) -> int:
    return bounded_int(args, "page", default=1, low=1, high=MAX_PAGE) or 1


def bounded_day(args, name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        abort(400, description=f"{name} must be a date (YYYY-MM-DD).")
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        abort(400, description=f"{name} must be a date from {EARLIEST_DAY} to {LATEST_DAY}.")
    return day

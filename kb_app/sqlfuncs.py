"""SQL expressions that differ between SQLite and PostgreSQL, written once."""

from __future__ import annotations

from sqlalchemy import Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class seconds_between(FunctionElement):
    """Seconds from `start` to `end` (two timestamp columns), as a float."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"

    def __init__(self, end, start):
        super().__init__(end, start)


@compiles(seconds_between)
def _seconds_between_default(element, compiler, **kw):
    end, start = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element, compiler, **kw):
    end, start = list(element.clauses)
    return f"((julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)})) * 86400.0)"

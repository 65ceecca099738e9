"""SQL expressions that differ between SQLite and PostgreSQL, written once."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, literal
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


class whole_seconds_between(FunctionElement):
    """Whole seconds from `start` to `end`, never below 0: `kb_app.models.acks.seconds_between_times`
    in SQL (SQLite's day fractions are rounded to the millisecond first, so that a whole number of
    seconds is not truncated to one less)."""

    type = Integer()
    inherit_cache = True
    name = "whole_seconds_between"

    def __init__(self, end, start):
        super().__init__(end, start)


@compiles(whole_seconds_between)
def _whole_seconds_between_default(element, compiler, **kw):
    end, start = list(element.clauses)
    seconds = f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"
    return f"GREATEST(CAST(TRUNC({seconds}) AS INTEGER), 0)"


@compiles(whole_seconds_between, "sqlite")
def _whole_seconds_between_sqlite(element, compiler, **kw):
    end, start = list(element.clauses)
    days = f"(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}))"
    return f"MAX(CAST(ROUND({days} * 86400.0, 3) AS INTEGER), 0)"


class string_list(FunctionElement):
    """An aggregate: the group's `value`s joined by `separator` (order unspecified)."""

    type = String()
    inherit_cache = True
    name = "string_list"

    def __init__(self, value, separator: str):
        super().__init__(value, literal(separator))


@compiles(string_list)
def _string_list_default(element, compiler, **kw):
    value, separator = list(element.clauses)
    return f"string_agg({compiler.process(value, **kw)}, {compiler.process(separator, **kw)})"


@compiles(string_list, "sqlite")
def _string_list_sqlite(element, compiler, **kw):
    value, separator = list(element.clauses)
    return f"group_concat({compiler.process(value, **kw)}, {compiler.process(separator, **kw)})"


class median(FunctionElement):
    """The median of a numeric column, as an aggregate: `percentile_cont(0.5)` on PostgreSQL,
    `kb_median` on SQLite (an aggregate that `kb_app.db` registers on every SQLite connection,
    with the same definition: the mean of the two middle values for an even count)."""

    type = Float()
    inherit_cache = True
    name = "median"

    def __init__(self, value):
        super().__init__(value)


@compiles(median)
def _median_default(element, compiler, **kw):
    (value,) = list(element.clauses)
    return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {compiler.process(value, **kw)})"


@compiles(median, "sqlite")
def _median_sqlite(element, compiler, **kw):
    (value,) = list(element.clauses)
    return f"kb_median({compiler.process(value, **kw)})"

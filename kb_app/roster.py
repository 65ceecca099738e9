"""The roster: read the workforce system's CSV, plan and apply an upsert, export, summarise.

An import is all or nothing: every bad row is reported with its line number and nothing is
written. Writes go in chunks of many rows per statement, never one query per agent.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.orm import Session

from kb_app import audit
from kb_app.exports import spreadsheet_safe, unguard_cell
from kb_app.models import TIERS, Agent, utcnow
from kb_app.problems import InputError, Problem

COLUMNS = (
    "employee_id",
    "name",
    "email",
    "tier",
    "vendor",
    "site",
    "team",
    "language",
    "manager",
    "start_date",
    "active",
)
REQUIRED_COLUMNS = tuple(c for c in COLUMNS if c not in ("manager", "active"))
# Fields an import compares to decide whether an agent changed.
COMPARED = tuple(c for c in COLUMNS if c != "employee_id")
GROUPABLE = ("vendor", "site", "team", "tier", "language")
CHUNK = 1000

_EMPLOYEE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s,;<>\"']+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_LANGUAGE = re.compile(r"^[a-z]{2}(-[a-z0-9]{2,8})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = {"true", "yes", "y", "1", "active"}
_FALSE = {"false", "no", "n", "0", "inactive"}
_MAX = {"name": 200, "email": 254, "team": 100, "manager": 200}


@dataclass(frozen=True)
class RosterRow:
    """One valid row of a roster file, normalised (codes lower case, whitespace trimmed)."""

    line: int
    employee_id: str
    name: str
    email: str
    tier: str
    vendor: str
    site: str
    team: str
    language: str
    manager: str | None
    start_date: date
    active: bool = True

    def values(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}


@dataclass
class ImportPlan:
    """What an import would do; `apply_plan` carries it out."""

    new: list[RosterRow] = field(default_factory=list)
    # (agent id, row, {field: (old, new)})
    changed: list[tuple[int, RosterRow, dict[str, tuple[Any, Any]]]] = field(default_factory=list)
    unchanged: int = 0
    # (agent id, employee id)
    deactivated: list[tuple[int, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "unchanged": self.unchanged,
            "deactivated": len(self.deactivated),
        }

    def field_counts(self) -> dict[str, int]:
        """How many changed agents had each field change."""
        counts: dict[str, int] = {}
        for _, _, changes in self.changed:
            for name in changes:
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self, detail_limit: int | None = None) -> dict[str, Any]:
        changed = self.changed if detail_limit is None else self.changed[:detail_limit]
        return {
            "counts": self.counts(),
            "changed_fields": self.field_counts(),
            "changes": [
                {
                    "employee_id": row.employee_id,
                    "line": row.line,
                    "fields": {k: {"old": _plain(o), "new": _plain(n)} for k, (o, n) in ch.items()},
                }
                for _, row, ch in changed
            ],
            "deactivated": [employee_id for _, employee_id in self.deactivated],
        }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# --- reading -------------------------------------------------------------------------------


def read_roster_csv(data: bytes, path: str | Path = "roster.csv") -> list[RosterRow]:
    """Parse a roster CSV. Raises `InputError` listing every bad row; returns rows otherwise.

    Accepts a UTF-8 byte order mark, CRLF line ends, stray whitespace around values, and a
    comma, semicolon or tab delimiter (spreadsheet exports vary by locale).
    """
    problems: list[Problem] = []
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        problems.extend(_undecodable_lines(data, path))
        text = data.decode("utf-8", errors="replace")
    rows, more = _parse_records(_csv_records(text, path), path, skip_lines={p.line for p in problems})
    problems.extend(more)
    if problems:
        raise InputError(problems)
    return rows


def parse_roster_records(records: Iterable[dict[str, Any]], path: str = "request") -> list[RosterRow]:
    """Validate roster rows given as mappings (the JSON API); `line` is the 1-based row number."""
    numbered: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            problems.append(Problem.error(path, number, "row must be an object"))
            continue
        numbered.append((number, {str(k).strip().lower(): v for k, v in record.items()}))
    rows, more = _parse_records(iter([("header", list(COLUMNS))] + numbered), path)
    problems.extend(more)
    if problems:
        raise InputError(problems)
    return rows


def _undecodable_lines(data: bytes, path) -> list[Problem]:
    problems = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            problems.append(
                Problem.error(
                    path, number, f"not valid UTF-8 (byte 0x{bad} at column {exc.start + 1}); save the file as UTF-8"
                )
            )
    return problems


def _csv_records(text: str, path) -> Iterator[tuple[Any, Any]]:
    """Yields ("header", [names]) once, then (line, {column: value}) per non-blank row.

    A CSV-level error is yielded as ("error", Problem) and ends the stream.
    """
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield "error", Problem.error(path, reader.line_num or start, f"cannot read CSV: {exc}")
            return
        if not any(value.strip() for value in record):
            continue
        if header is None:
            header = [name.strip().lower() for name in record]
            yield "header", header
            continue
        if len(record) != len(header):
            yield start, ("width", len(record), len(header))
            continue
        yield start, dict(zip(header, record))
    if header is None:
        yield "header", []


def _parse_records(records, path, skip_lines: set[int] = frozenset()) -> tuple[list[RosterRow], list[Problem]]:
    problems: list[Problem] = []
    rows: list[RosterRow] = []
    first_line_of: dict[str, int] = {}
    for key, record in records:
        if key == "error":
            problems.append(record)
            break
        if key == "header":
            if not record:
                problems.append(Problem.error(path, 1, "empty file: expected a header row with " + ", ".join(COLUMNS)))
                break
            problems.extend(_header_problems(record, path))
            if problems:
                break
            continue
        line = key
        if isinstance(record, tuple):
            _, got, expected = record
            problems.append(Problem.error(path, line, f"row has {got} values, the header has {expected}"))
            continue
        if line in skip_lines:
            continue
        row, errors = _parse_row(line, record)
        if errors:
            problems.append(Problem.error(path, line, "; ".join(errors)))
            continue
        assert row is not None
        key = same_employee_id(row.employee_id)
        if key in first_line_of:
            problems.append(
                Problem.error(
                    path,
                    line,
                    f"duplicate employee_id {row.employee_id!r} (first on line {first_line_of[key]})",
                )
            )
            continue
        first_line_of[key] = line
        rows.append(row)
    return rows, problems


def _header_problems(header: list[str], path) -> list[Problem]:
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        problems.append(Problem.error(path, 1, "missing column(s): " + ", ".join(missing)))
    duplicates = sorted({c for c in header if c and header.count(c) > 1})
    if duplicates:
        problems.append(Problem.error(path, 1, "duplicate column(s): " + ", ".join(duplicates)))
    return problems


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    return unguard_cell(str(value).strip())


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def same_employee_id(employee_id: str) -> str:
    """Employee ids are compared without regard to case: NW-1 and nw-1 are one agent."""
    return employee_id.casefold()


def _parse_row(line: int, record: dict[str, Any]) -> tuple[RosterRow | None, list[str]]:
    errors: list[str] = []
    values = {name: _text(record, name) for name in COLUMNS}
    for name in COLUMNS:
        found = _CONTROL.search(values[name])
        if found:
            errors.append(f"{name} contains a control character (U+{ord(found.group()):04X})")
            values[name] = ""
    for name in REQUIRED_COLUMNS:
        if not values[name]:
            errors.append(f"{name} is empty")
    for name, limit in _MAX.items():
        if len(values[name]) > limit:
            errors.append(f"{name} is longer than {limit} characters")

    employee_id = values["employee_id"]
    if employee_id and not _EMPLOYEE_ID.match(employee_id):
        errors.append(f"employee_id {employee_id!r} must be letters, digits, dot, dash or underscore")
    email = values["email"].lower()
    if email and not _EMAIL.match(email):
        errors.append(f"email {values['email']!r} is not an email address")
    tier = values["tier"].upper()
    if values["tier"] and tier not in TIERS:
        errors.append(f"unknown tier {values['tier']!r} (expected T1 or T2)")
    vendor, site, language = (values[n].lower() for n in ("vendor", "site", "language"))
    for name, code in (("vendor", vendor), ("site", site)):
        if code and not _CODE.match(code):
            errors.append(f"{name} {values[name]!r} must be a code: lower-case letters, digits, dash")
    if language and not _LANGUAGE.match(language):
        errors.append(f"language {values['language']!r} must be an ISO 639-1 code such as en or es")
    start_date = None
    if values["start_date"]:
        start_date = _parse_date(values["start_date"])
        if start_date is None:
            errors.append(f"start_date {values['start_date']!r} is not a date (YYYY-MM-DD)")
    active = True
    if values["active"]:
        flag = values["active"].lower()
        if flag in _TRUE:
            active = True
        elif flag in _FALSE:
            active = False
        else:
            errors.append(f"active {values['active']!r} must be true or false")
    if errors:
        return None, errors
    return (
        RosterRow(
            line=line,
            employee_id=employee_id,
            name=values["name"],
            email=email,
            tier=tier,
            vendor=vendor,
            site=site,
            team=values["team"],
            language=language,
            manager=values["manager"] or None,
            start_date=start_date,
            active=active,
        ),
        [],
    )


def _parse_date(raw: str) -> date | None:
    if not _DATE.match(raw):
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        return None


# --- planning and applying -----------------------------------------------------------------


def plan_import(session: Session, rows: Sequence[RosterRow], deactivate_missing: bool = False) -> ImportPlan:
    """Compare rows with the roster, loaded in one query. Writes nothing."""
    columns = [Agent.id, Agent.employee_id, *(getattr(Agent, c) for c in COMPARED)]
    existing = {same_employee_id(r.employee_id): r for r in session.execute(select(*columns))}
    plan = ImportPlan()
    for row in rows:
        current = existing.get(same_employee_id(row.employee_id))
        if current is None:
            plan.new.append(row)
            continue
        if row.employee_id != current.employee_id:  # the roster keeps the id as first recorded
            row = replace(row, employee_id=current.employee_id)
        changes = {}
        for name in COMPARED:
            old, new = getattr(current, name), getattr(row, name)
            if old != new:
                changes[name] = (old, new)
        if changes:
            plan.changed.append((current.id, row, changes))
        else:
            plan.unchanged += 1
    if deactivate_missing:
        present = {same_employee_id(row.employee_id) for row in rows}
        plan.deactivated = sorted(
            (r.id, r.employee_id)
            for r in existing.values()
            if r.active and same_employee_id(r.employee_id) not in present
        )
    return plan


def apply_plan(session: Session, plan: ImportPlan) -> None:
    """Write a plan in the session's transaction, many rows per statement."""
    table = Agent.__table__
    now = utcnow()
    connection = session.connection()
    for chunk in _chunks(plan.new):
        connection.execute(insert(table), [dict(row.values(), created_at=now, updated_at=now) for row in chunk])
    if plan.changed:
        statement = (
            update(table)
            .where(table.c.id == bindparam("agent_id"))
            .values({c: bindparam(c) for c in COMPARED} | {"updated_at": bindparam("updated_at")})
        )
        for chunk in _chunks(plan.changed):
            connection.execute(
                statement,
                [
                    {**{c: getattr(row, c) for c in COMPARED}, "agent_id": agent_id, "updated_at": now}
                    for agent_id, row, _ in chunk
                ],
            )
    for chunk in _chunks(plan.deactivated):
        connection.execute(
            update(table)
            .where(table.c.id.in_([agent_id for agent_id, _ in chunk]))
            .values(active=False, updated_at=now)
        )
    # Core statements bypass the identity map; make loaded agents reread their rows.
    session.expire_all()


def import_roster(
    session: Session,
    rows: Sequence[RosterRow],
    *,
    deactivate_missing: bool = False,
    dry_run: bool = False,
    actor: str = "",
    actor_user_id: int | None = None,
    source: str = "",
    ip: str = "",
) -> ImportPlan:
    """Plan and (unless `dry_run`) apply an import and record it in the audit log.

    The caller owns the transaction: commit to land the import, roll back to drop it.
    """
    if deactivate_missing and not rows:
        # An empty export is far more likely a broken feed than a line of business with no agents.
        raise InputError(
            [Problem.error(source or "roster", 1, "no agents in the file; refusing to deactivate the whole roster")]
        )
    plan = plan_import(session, rows, deactivate_missing=deactivate_missing)
    if not dry_run:
        apply_plan(session, plan)
        audit.record(
            session,
            "roster.import",
            actor=actor,
            actor_user_id=actor_user_id,
            target=source,
            ip=ip,
            details={
                "rows": len(rows),
                "deactivate_missing": deactivate_missing,
                **plan.counts(),
                "changed_fields": plan.field_counts(),
            },
        )
    return plan


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- export and queries --------------------------------------------------------------------


@dataclass(frozen=True)
class RosterFilter:
    vendor: str | None = None
    site: str | None = None
    team: str | None = None
    tier: str | None = None
    language: str | None = None
    active: bool | None = None
    q: str | None = None


def export_roster(session: Session, out: io.TextIOBase, where: RosterFilter | None = None) -> int:
    """Write agents as CSV in the import format (so an export re-imports unchanged)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    statement = (
        select(*(getattr(Agent, c) for c in COLUMNS))
        .where(*_conditions(where or RosterFilter()))
        .order_by(Agent.employee_id)
    )
    count = 0
    for record in session.execute(statement.execution_options(yield_per=CHUNK)):
        writer.writerow([spreadsheet_safe(_csv_value(name, value)) for name, value in zip(COLUMNS, record)])
        count += 1
    return count


def _csv_value(name: str, value: Any) -> str:
    if name == "active":
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def roster_summary(
    session: Session,
    group_by: Sequence[str] = ("vendor", "site"),
    *,
    vendor: str | None = None,
) -> list[dict[str, Any]]:
    """Agent counts per group, computed in SQL: active, T1 and T2 among active, inactive."""
    for name in group_by:
        if name not in GROUPABLE:
            raise ValueError(f"cannot group the roster by {name!r}")
    keys = [getattr(Agent, name) for name in group_by]
    active = Agent.active.is_(True)
    statement = (
        select(
            *keys,
            func.count().label("agents"),
            func.sum(case((active, 1), else_=0)).label("active"),
            func.sum(case((and_(active, Agent.tier == "T1"), 1), else_=0)).label("t1"),
            func.sum(case((and_(active, Agent.tier == "T2"), 1), else_=0)).label("t2"),
        )
        .group_by(*keys)
        .order_by(*keys)
    )
    if vendor is not None:
        statement = statement.where(Agent.vendor == vendor)
    result = []
    for record in session.execute(statement):
        values = dict(record._mapping)
        for name in ("agents", "active", "t1", "t2"):
            values[name] = int(values[name] or 0)
        values["inactive"] = values["agents"] - values["active"]
        result.append(values)
    return result


def summary_totals(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    totals = {"agents": 0, "active": 0, "t1": 0, "t2": 0, "inactive": 0}
    for row in rows:
        for name in totals:
            totals[name] += row[name]
    return totals


def _conditions(where: RosterFilter) -> list:
    conditions = []
    for name in ("vendor", "site", "team", "tier", "language"):
        value = getattr(where, name)
        if value:
            conditions.append(getattr(Agent, name) == value)
    if where.active is not None:
        conditions.append(Agent.active.is_(where.active))
    if where.q:
        needle = where.q.strip().lower()
        conditions.append(
            or_(
                func.lower(Agent.name).contains(needle, autoescape=True),
                func.lower(Agent.employee_id).contains(needle, autoescape=True),
                Agent.email.contains(needle, autoescape=True),
            )
        )
    return conditions


def list_agents(session: Session, where: RosterFilter, *, limit: int = 100, offset: int = 0) -> tuple[list[Agent], int]:
    """A page of agents matching `where`, and how many match in all."""
    conditions = _conditions(where)
    total = session.scalar(select(func.count()).select_from(Agent).where(*conditions)) or 0
    agents = session.scalars(
        select(Agent)
        .where(*conditions)
        .order_by(Agent.vendor, Agent.site, Agent.team, Agent.name, Agent.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(agents), int(total)


def distinct_values(session: Session, column: str, *, vendor: str | None = None) -> list[str]:
    """Values present in a roster column (for filter menus), optionally within one vendor."""
    if column not in GROUPABLE:
        raise ValueError(column)
    col = getattr(Agent, column)
    statement = select(col).distinct().order_by(col)
    if vendor is not None:
        statement = statement.where(Agent.vendor == vendor)
    return list(session.scalars(statement))


def agent_by_employee_id(session: Session, employee_id: str) -> Agent | None:
    return session.scalar(select(Agent).where(func.lower(Agent.employee_id) == employee_id.lower()))

"""Roster site settings and vendor names: data, not code.

Each roster `site` code has a name and an IANA time zone, in which its agents see times; each
vendor code has the name people know it by. Admins edit them on the admin page (or the demo seed
writes them); a save is checked whole (every time zone through `zoneinfo`) and lands whole or
not at all. `Names` is what pages need to show codes as names and times in a reader's zone.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from kb_app import audit
from kb_app.catalog.languages import english_name
from kb_app.models import Agent, RosterSite, RosterVendor
from kb_app.problems import InputError, Problem

CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME = 200


@dataclass(frozen=True)
class SiteSetting:
    code: str
    name: str
    time_zone: str


@dataclass(frozen=True)
class VendorName:
    code: str
    name: str


class SettingsRefused(Exception):
    """A save with problems; each names its row and field. Nothing was written."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`. Raises ValueError with a message that says what is wrong."""
    if not name or name != name.strip() or len(name) > 64:
        raise ValueError(f"{name!r} is not an IANA time zone name (for example Asia/Manila)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (for example Asia/Manila or Europe/Warsaw)") from None


def _name_problem(value: str) -> str | None:
    if not value:
        return "name is required"
    if len(value) > MAX_NAME:
        return f"name is {len(value)} characters; at most {MAX_NAME} are allowed"
    if _CONTROL.search(value):
        return "name contains a control character"
    return None


def _code_problem(code: str, raw: str, seen: set[str]) -> str | None:
    if not CODE.match(code):
        return f"code {raw!r} must be lower-case letters, digits, '-' or '_' (as on the roster)"
    if code in seen:
        return f"code {code!r} is given twice"
    return None


def _checked(
    rows: Iterable[dict[str, str]], *, with_zone: bool
) -> tuple[list[dict[str, str]], list[tuple[int, str, str]]]:
    """Rows cleaned, and problems as (row number from 1, the row's code if valid, message naming the field)."""
    good: list[dict[str, str]] = []
    problems: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    for number, raw in enumerate(rows, start=1):
        row = {key: (value or "").strip() for key, value in raw.items()}
        row["code"] = row.get("code", "").lower()
        found = [_code_problem(row["code"], raw.get("code") or "", seen), _name_problem(row.get("name", ""))]
        if with_zone:
            try:
                zone(row.get("time_zone", ""))
            except ValueError as error:
                found.append(f"time_zone {error}")
        seen.add(row["code"])
        code = row["code"] if CODE.match(row["code"]) else ""
        problems += [(number, code, message) for message in found if message]
        if not any(found):
            good.append(row)
    return good, problems


def _labelled(label: str, problems: list[tuple[int, str, str]]) -> list[str]:
    return [f"{label} {number}{f' ({code})' if code else ''}: {message}" for number, code, message in problems]


def check_sites(rows: Iterable[dict[str, str]], *, label: str = "site row") -> tuple[list[SiteSetting], list[str]]:
    """Valid site settings from form or file rows (`code`, `name`, `time_zone`), and the problems,
    each naming its row (from 1), the row's code and the field."""
    good, problems = _checked(rows, with_zone=True)
    return [SiteSetting(r["code"], r["name"], r["time_zone"]) for r in good], _labelled(label, problems)


def check_vendors(rows: Iterable[dict[str, str]], *, label: str = "vendor row") -> tuple[list[VendorName], list[str]]:
    good, problems = _checked(rows, with_zone=False)
    return [VendorName(r["code"], r["name"]) for r in good], _labelled(label, problems)


def save_settings(
    session: Session,
    site_rows: Sequence[dict[str, str]],
    vendor_rows: Sequence[dict[str, str]],
    *,
    actor: str,
    actor_user_id: int | None = None,
) -> tuple[int, int]:
    """Replace the site settings and vendor names with these rows, all or nothing.

    Raises SettingsRefused naming every bad row and field; otherwise returns how many sites and
    vendors are set, in the caller's transaction (audited)."""
    sites, site_problems = check_sites(site_rows)
    vendors, vendor_problems = check_vendors(vendor_rows)
    if site_problems or vendor_problems:
        raise SettingsRefused(site_problems + vendor_problems)
    _replace(session, RosterSite, {s.code: {"name": s.name, "time_zone": s.time_zone} for s in sites})
    _replace(session, RosterVendor, {v.code: {"name": v.name} for v in vendors})
    audit.record(
        session,
        "roster.site_settings",
        actor=actor,
        actor_user_id=actor_user_id,
        details={"sites": {s.code: s.time_zone for s in sites}, "vendors": sorted(v.code for v in vendors)},
    )
    return len(sites), len(vendors)


def _replace(session: Session, model, wanted: dict[str, dict[str, str]]) -> None:
    existing = {row.code: row for row in session.scalars(select(model))}
    for code, row in existing.items():
        if code not in wanted:
            session.delete(row)
    for code, values in wanted.items():
        row = existing.get(code)
        if row is None:
            session.add(model(code=code, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
    session.flush()


def upsert_settings(session: Session, sites: Sequence[SiteSetting], vendors: Sequence[VendorName]) -> None:
    """Add or update these sites and vendors, leaving others alone (the demo seed)."""
    existing_sites = {row.code: row for row in session.scalars(select(RosterSite))}
    for site in sites:
        zone(site.time_zone)
        row = existing_sites.get(site.code)
        if row is None:
            session.add(RosterSite(code=site.code, name=site.name, time_zone=site.time_zone))
        elif (row.name, row.time_zone) != (site.name, site.time_zone):
            row.name, row.time_zone = site.name, site.time_zone
    existing_vendors = {row.code: row for row in session.scalars(select(RosterVendor))}
    for vendor in vendors:
        found = existing_vendors.get(vendor.code)
        if found is None:
            session.add(RosterVendor(code=vendor.code, name=vendor.name))
        elif found.name != vendor.name:
            found.name = vendor.name
    session.flush()


SITE_COLUMNS = ("code", "name", "time_zone")


def read_sites_csv(data: bytes, path: str = "sites.csv") -> list[SiteSetting]:
    """Site settings from a CSV file with columns code, name, time_zone (one site a line).

    Raises InputError with every problem as `path:line: message`, naming the field."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError([Problem.error(path, 1, f"the file is not UTF-8 ({error.reason})")]) from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in SITE_COLUMNS if c not in header]
    if missing:
        raise InputError(
            [Problem.error(path, 1, f"missing column(s): {', '.join(missing)} (need code,name,time_zone)")]
        )
    rows, lines = [], []
    for record in reader:
        lines.append(reader.line_num)
        rows.append({c: record.get(c) or "" for c in SITE_COLUMNS})
    good, problems = _checked(rows, with_zone=True)
    if problems:
        raise InputError(
            [
                Problem.error(path, lines[number - 1], f"{f'site {code}: ' if code else ''}{message}")
                for number, code, message in problems
            ]
        )
    return [SiteSetting(r["code"], r["name"], r["time_zone"]) for r in good]


def import_sites(session: Session, sites: Sequence[SiteSetting], *, actor: str) -> None:
    """Add or update these sites (others stay), audited, in the caller's transaction."""
    upsert_settings(session, sites, [])
    audit.record(session, "roster.site_settings", actor=actor, details={"sites": {s.code: s.time_zone for s in sites}})


def site_settings(session: Session) -> list[SiteSetting]:
    return [
        SiteSetting(r.code, r.name, r.time_zone) for r in session.scalars(select(RosterSite).order_by(RosterSite.code))
    ]


def vendor_names(session: Session) -> list[VendorName]:
    return [VendorName(r.code, r.name) for r in session.scalars(select(RosterVendor).order_by(RosterVendor.code))]


def roster_codes_without_settings(session: Session) -> tuple[list[str], list[str]]:
    """Site and vendor codes on the roster that have no settings yet."""
    sites = session.scalars(
        select(Agent.site).distinct().where(Agent.site.not_in(select(RosterSite.code))).order_by(Agent.site)
    ).all()
    vendors = session.scalars(
        select(Agent.vendor).distinct().where(Agent.vendor.not_in(select(RosterVendor.code))).order_by(Agent.vendor)
    ).all()
    return list(sites), list(vendors)


# --- showing codes as names, times in the reader's zone ----------------------------------------------


@dataclass
class Names:
    """Names of sites, vendors and languages, and the time zone of each site (two queries)."""

    sites: dict[str, SiteSetting] = field(default_factory=dict)
    vendors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Names:
        return cls(
            {s.code: s for s in site_settings(session)},
            {v.code: v.name for v in vendor_names(session)},
        )

    def site_name(self, code: str | None) -> str:
        if not code:
            return ""
        found = self.sites.get(code)
        return found.name if found is not None else code.replace("-", " ").title()

    def vendor_name(self, code: str | None) -> str:
        if not code:
            return ""
        return self.vendors.get(code) or code

    def site_zone(self, code: str | None) -> tzinfo | None:
        found = self.sites.get(code or "")
        return ZoneInfo(found.time_zone) if found is not None else None


def language_label(code: str | None) -> str:
    """A language by its English name (`tl` -> Tagalog); an unknown code as it is."""
    return english_name(code) if code else ""


@dataclass(frozen=True)
class LocalTime:
    iso: str  # the instant, ISO 8601 in UTC (for <time datetime=...>)
    local: str  # in the reader's zone, with its abbreviation
    utc: str  # the same instant in UTC


def local_time(value: datetime, zone_info: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> LocalTime:
    """`value` (aware, or naive UTC) as the reader's local time and as UTC."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    in_utc = aware.astimezone(timezone.utc)
    local = aware.astimezone(zone_info)
    return LocalTime(in_utc.isoformat(), f"{local.strftime(fmt)} {_abbreviation(local)}", f"{in_utc.strftime(fmt)} UTC")


def _abbreviation(value: datetime) -> str:
    name = value.tzname() or ""
    if name and not name.lstrip("+-").isdigit():
        return name
    offset = value.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")

"""Search analytics: record what readers search for and open, and report the content gaps.

A *settled* search is what a reader ended up searching for. Results appear as the reader
types, so one typing burst sends many queries ("s", "sim", "sim sw", "sim swap"); each carries
the id of the row the previous one recorded (`refines`), and a query that refines a recent row
with nothing opened from it yet replaces that row instead of adding one. What remains is one
row per search the reader settled on, with its final text and result count.

No user id is stored; a row keeps the tier, role and vendor of the reader, so the training
team sees which audience misses what, not who searched. Query text is normalised (case,
spacing, length) and redacted: e-mail addresses and long numbers are customer data an agent
may paste into the box and have no place in a report.

Every report counts in SQL, grouped by the Monday of the UTC week a search was made in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping, cast

from sqlalchemy import Select, Table, case, delete, exists, func, insert, select
from sqlalchemy.orm import Session

from kb_app.models import SearchClick, SearchQuery
from kb_app.models.search_log import FILTER_CHARS, QUERY_CHARS

# How long after a row's last refinement a query may still replace it: a reader typing or
# correcting a typo. A search read for longer than this was settled, and stays.
REFINE_SECONDS = 30
MAX_WEEKS = 52
TOP_LIMIT = 25
EMAIL_MARK = "[email]"
NUMBER_MARK = "[number]"
ROLES = ("agent", "partner_manager", "trainer", "admin", "lead")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EMAIL = re.compile(r"[^\s@\"'<>()]+@[^\s@\"'<>()]+\.[^\s@\"'<>()]+")
_NUMBER = re.compile(r"\+?\d[\d\s().\-/]*\d")
_LONG_TOKEN = re.compile(r"\b(?=[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,}\b")
MIN_REDACTED_DIGITS = 5


def normalise_query(text: str | None) -> str:
    """The query as reports group it: lower case, single spaces, customer data replaced, cut short."""
    text = _CONTROL.sub(" ", str(text or ""))
    text = _EMAIL.sub(EMAIL_MARK, text)
    text = _LONG_TOKEN.sub(NUMBER_MARK, text)
    text = _NUMBER.sub(_redact_number, text)
    text = " ".join(text.lower().split())
    return text[:QUERY_CHARS].rstrip()


def _redact_number(match: re.Match) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    return NUMBER_MARK if digits >= MIN_REDACTED_DIGITS else match.group(0)


def filters_text(filters: Mapping[str, Iterable[str]] | None) -> str:
    """Facet filters as one string, `kind:escalation tag:sim`, names and values sorted."""
    parts = []
    for name in sorted(filters or {}):
        for value in sorted({normalise_query(v) for v in filters[name] if str(v).strip()}):
            parts.append(f"{name}:{value}")
    return " ".join(parts)[:FILTER_CHARS]


def week_of(moment: datetime | date) -> date:
    """The Monday starting the (UTC) week of `moment`."""
    day = moment.astimezone(timezone.utc).date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Searcher:
    """Who searched, as far as reports need to know: no user id."""

    tier: str
    role: str
    vendor: str | None


def searcher_of(user, tier: str) -> Searcher:
    """The reader's tier (their audience), role, and vendor (an agent's or a partner manager's)."""
    vendor = user.agent.vendor if user.role == "agent" and user.agent is not None else user.vendor
    return Searcher(tier=tier, role=user.role, vendor=vendor)


# --- recording ---------------------------------------------------------------------------------


def record_search(
    session: Session,
    searcher: Searcher,
    query: str,
    *,
    result_count: int,
    filters: Mapping[str, Iterable[str]] | None = None,
    refines: int | None = None,
    now: datetime,
) -> SearchQuery | None:
    """Record a settled search (or refine the row `refines` names); None for an empty search.

    The caller commits. A new row comes back as a copy outside the session (its `id` is the
    row's); a refined one is the session's own. `refines` is only honoured for a row of the same
    tier, refined less than REFINE_SECONDS ago, with no result opened from it: anything else
    adds a row.
    """
    text = normalise_query(query)
    filter_text = filters_text(filters)
    if not text and not filter_text:
        return None
    values = {
        "query": text,
        "filters": filter_text,
        "result_count": max(0, int(result_count)),
        "searched_at": now,
        "week_start": week_of(now),
    }
    row = _refinable(session, refines, searcher.tier, now) if refines is not None else None
    if row is not None:
        for name, value in values.items():
            setattr(row, name, value)
        session.flush()
        return row
    # A new row in one INSERT … RETURNING, without the unit of work: every first page of a
    # search in a crisis writes one.
    values.update(tier=searcher.tier, role=searcher.role, vendor=searcher.vendor)
    new_id = session.connection().execute(_INSERT_SEARCH, values).scalar_one()
    return SearchQuery(id=new_id, **values)


# Built (and compiled) once: the columns come as parameters.
_SEARCHES = cast(Table, SearchQuery.__table__)
_INSERT_SEARCH = insert(_SEARCHES).returning(_SEARCHES.c.id)


def _refinable(session: Session, search_id: int, tier: str, now: datetime) -> SearchQuery | None:
    row = session.get(SearchQuery, search_id)
    if row is None or row.tier != tier:
        return None
    age = (now - row.searched_at).total_seconds()
    if not 0 <= age <= REFINE_SECONDS:
        return None
    opened = session.scalar(select(exists().where(SearchClick.search_id == row.id)))
    return None if opened else row


def record_click(
    session: Session, search_id: int, *, tier: str, sop_id: str, target: str, rank: int, now: datetime
) -> SearchClick | None:
    """Record that a result of search `search_id` was opened; None when that search is not the
    reader's tier's (or is gone). The caller commits."""
    row = session.get(SearchQuery, search_id)
    if row is None or row.tier != tier:
        return None
    click = SearchClick(
        search_id=row.id, clicked_at=now, sop_id=sop_id[:64], target=target[:500], rank=max(1, int(rank))
    )
    session.add(click)
    session.flush()
    return click


def purge_before(session: Session, cutoff: datetime) -> int:
    """Delete searches (and their clicks) made before `cutoff`; returns how many. The caller commits."""
    ids = select(SearchQuery.id).where(SearchQuery.searched_at < cutoff).scalar_subquery()
    session.execute(delete(SearchClick).where(SearchClick.search_id.in_(ids)))
    return session.execute(delete(SearchQuery).where(SearchQuery.searched_at < cutoff)).rowcount or 0


# --- reports -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Which searches a report counts: the last `weeks` weeks (or one week), a tier, agents only."""

    weeks: int = 4
    week: date | None = None  # one week of the window only
    tier: str | None = None
    agents_only: bool = True

    def first_week(self, now: datetime) -> date:
        return week_of(now) - timedelta(weeks=self.weeks - 1)

    def week_starts(self, now: datetime) -> list[date]:
        """The window's weeks, newest first."""
        last = week_of(now)
        return [last - timedelta(weeks=n) for n in range(self.weeks)]


def _where(stmt: Select, window: Window, now: datetime) -> Select:
    if window.week is not None:
        stmt = stmt.where(SearchQuery.week_start == week_of(window.week))
    else:
        stmt = stmt.where(SearchQuery.week_start >= window.first_week(now))
    if window.tier:
        stmt = stmt.where(SearchQuery.tier == window.tier)
    if window.agents_only:
        stmt = stmt.where(SearchQuery.role == "agent")
    return stmt


def _clicks():
    """Clicks per search, to outer-join: a search was opened when it has a row here."""
    return (
        select(SearchClick.search_id, func.count().label("clicks")).group_by(SearchClick.search_id).subquery("clicked")
    )


def _measures(clicked):
    return (
        func.count().label("searches"),
        func.sum(case((SearchQuery.result_count == 0, 1), else_=0)).label("zero_result"),
        func.count(clicked.c.search_id).label("opened"),
        func.coalesce(func.sum(clicked.c.clicks), 0).label("clicks"),
        func.avg(SearchQuery.result_count).label("avg_results"),
    )


@dataclass(frozen=True)
class WeekRow:
    week_start: date
    searches: int
    zero_result: int
    opened: int
    clicks: int

    @property
    def zero_result_pct(self) -> float:
        return round(100.0 * self.zero_result / self.searches, 1) if self.searches else 0.0

    @property
    def opened_pct(self) -> float:
        return round(100.0 * self.opened / self.searches, 1) if self.searches else 0.0


@dataclass(frozen=True)
class QueryRow:
    query: str
    searches: int
    zero_result: int
    opened: int
    clicks: int
    avg_results: float
    last_searched: datetime | None = None

    @property
    def opened_pct(self) -> float:
        return round(100.0 * self.opened / self.searches, 1) if self.searches else 0.0

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "searches": self.searches,
            "zero_result": self.zero_result,
            "opened": self.opened,
            "clicks": self.clicks,
            "avg_results": round(self.avg_results, 1),
            "last_searched": self.last_searched.isoformat() if self.last_searched else None,
        }


def weekly_summary(session: Session, window: Window, *, now: datetime) -> list[WeekRow]:
    """One row per week of the window (newest first), weeks without searches included."""
    clicked = _clicks()
    searches, zero_result, opened, clicks, _ = _measures(clicked)
    stmt = select(SearchQuery.week_start, searches, zero_result, opened, clicks).outerjoin(
        clicked, clicked.c.search_id == SearchQuery.id
    )
    stmt = _where(stmt, Window(window.weeks, None, window.tier, window.agents_only), now).group_by(
        SearchQuery.week_start
    )
    found = {row.week_start: row for row in session.execute(stmt)}
    out = []
    for week in window.week_starts(now):
        row = found.get(week)
        out.append(
            WeekRow(week, int(row.searches), int(row.zero_result), int(row.opened), int(row.clicks))
            if row
            else WeekRow(week, 0, 0, 0, 0)
        )
    return out


def window_totals(session: Session, window: Window, *, now: datetime) -> WeekRow:
    """The window's (or its one week's) searches in one row, dated by its first week."""
    clicked = _clicks()
    searches, zero_result, opened, clicks, _ = _measures(clicked)
    stmt = _where(
        select(searches, zero_result, opened, clicks).outerjoin(clicked, clicked.c.search_id == SearchQuery.id),
        window,
        now,
    )
    row = session.execute(stmt).one()
    first = week_of(window.week) if window.week is not None else window.first_week(now)
    return WeekRow(first, int(row.searches), int(row.zero_result or 0), int(row.opened), int(row.clicks))


def _query_rows(
    session: Session, window: Window, now: datetime, *, having=None, order=None, limit: int = TOP_LIMIT
) -> list[QueryRow]:
    clicked = _clicks()
    measures = _measures(clicked)
    last = func.max(SearchQuery.searched_at).label("last_searched")
    stmt = select(SearchQuery.query, *measures, last).outerjoin(clicked, clicked.c.search_id == SearchQuery.id)
    stmt = _where(stmt, window, now).where(SearchQuery.query != "").group_by(SearchQuery.query)
    if having is not None:
        stmt = stmt.having(having(measures))
    stmt = stmt.order_by(*(order(measures) if order else (measures[0].desc(),)), SearchQuery.query).limit(limit)
    return [
        QueryRow(
            row.query,
            int(row.searches),
            int(row.zero_result),
            int(row.opened),
            int(row.clicks),
            float(row.avg_results or 0),
            _aware(row.last_searched),
        )
        for row in session.execute(stmt)
    ]


def _aware(value: datetime | None) -> datetime | None:
    # func.max() of the column comes back without the column type on SQLite: a naive UTC value.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def top_queries(session: Session, window: Window, *, now: datetime, limit: int = TOP_LIMIT) -> list[QueryRow]:
    """The most frequent searches."""
    return _query_rows(session, window, now, limit=limit)


def zero_result_queries(session: Session, window: Window, *, now: datetime, limit: int = TOP_LIMIT) -> list[QueryRow]:
    """Searches that found nothing at least once: the plainest content gaps."""
    return _query_rows(
        session, window, now, having=lambda m: m[1] > 0, order=lambda m: (m[1].desc(), m[0].desc()), limit=limit
    )


def unopened_queries(session: Session, window: Window, *, now: datetime, limit: int = TOP_LIMIT) -> list[QueryRow]:
    """Searches that found sections, none of which anybody opened: the results did not look
    like the answer (candidate content gaps, or titles and headings that say the wrong thing)."""
    return _query_rows(
        session,
        window,
        now,
        having=lambda m: (m[0] > m[1]) & (m[2] == 0),
        order=lambda m: (m[0].desc(),),
        limit=limit,
    )


def export_rows(session: Session, window: Window, *, now: datetime) -> list[dict]:
    """Per week, tier and query: searches, zero-result searches, searches with a result opened,
    results opened, average result count. For the CSV export."""
    clicked = _clicks()
    searches, zero_result, opened, clicks, avg_results = _measures(clicked)
    stmt = select(
        SearchQuery.week_start, SearchQuery.tier, SearchQuery.query, searches, zero_result, opened, clicks, avg_results
    ).outerjoin(clicked, clicked.c.search_id == SearchQuery.id)
    stmt = _where(stmt, window, now).group_by(SearchQuery.week_start, SearchQuery.tier, SearchQuery.query)
    stmt = stmt.order_by(SearchQuery.week_start.desc(), searches.desc(), SearchQuery.tier, SearchQuery.query)
    return [
        {
            "week_start": row.week_start.isoformat(),
            "tier": row.tier,
            "query": row.query,
            "searches": int(row.searches),
            "zero_result": int(row.zero_result),
            "opened": int(row.opened),
            "clicks": int(row.clicks),
            "avg_results": round(float(row.avg_results or 0), 1),
        }
        for row in session.execute(stmt)
    ]


EXPORT_COLUMNS = ("week_start", "tier", "query", "searches", "zero_result", "opened", "clicks", "avg_results")

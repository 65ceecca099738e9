"""Search analytics core: what is recorded (and what is not), typing bursts, weekly reports in SQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select

from kb_app import search_log
from kb_app.models import SearchClick, SearchQuery
from kb_app.search_log import Searcher, Window

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)  # a Wednesday
THIS_WEEK = date(2026, 11, 23)
T1_AGENT = Searcher("T1", "agent", "northwind-bpo")
T2_AGENT = Searcher("T2", "agent", "in-house")
TRAINER = Searcher("T2", "trainer", None)


def record(session, query, results=3, *, who=T1_AGENT, at=NOW, refines=None, filters=None):
    row = search_log.record_search(session, who, query, result_count=results, filters=filters, refines=refines, now=at)
    session.commit()
    return row


def click(session, row, rank=1, at=NOW):
    search_log.record_click(
        session,
        row.id,
        tier=row.tier,
        sop_id="ATO-RECOVERY",
        target="/sop/procedures/ato-recovery/#verify",
        rank=rank,
        now=at,
    )
    session.commit()


# --- what is kept --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("  2FA   Reset ", "2fa reset"),
        ("SIM\tswap\nport-out", "sim swap port-out"),
        ("customer jane.doe+x@mail.example says hacked", "customer [email] says hacked"),
        ("call +1 (555) 123-4567 back", "call [number] back"),
        ("case 48213377 escalation", "case [number] escalation"),
        ("token a1b2c3d4e5f6a7b8c9d0 leaked", "token [number] leaked"),
        ("72 hours cooling-off", "72 hours cooling-off"),
        ("id:ATO-RECOVERY tag:sim-swap", "id:ato-recovery tag:sim-swap"),
        ("bell\x07char", "bell char"),
        ("x" * 500, "x" * 200),
        ("", ""),
    ],
)
def test_queries_are_normalised_and_customer_data_is_masked(raw, kept):
    assert search_log.normalise_query(raw) == kept


def test_no_user_id_is_stored(engine):
    columns = {c["name"] for c in inspect(engine).get_columns("search_queries")}
    assert columns == {"id", "searched_at", "week_start", "query", "filters", "tier", "role", "vendor", "result_count"}


def test_a_search_is_recorded_with_tier_role_vendor_and_week(session):
    row = record(session, "  Hacked ACCOUNT ", 7, filters={"kind": ["escalation"], "tag": ["sim", "ato"]})
    stored = session.get(SearchQuery, row.id)
    assert (stored.query, stored.tier, stored.role, stored.vendor, stored.result_count) == (
        "hacked account",
        "T1",
        "agent",
        "northwind-bpo",
        7,
    )
    assert stored.filters == "kind:escalation tag:ato tag:sim"
    assert stored.week_start == THIS_WEEK
    assert stored.searched_at == NOW


def test_empty_search_is_not_recorded(session):
    assert record(session, "   ") is None
    assert session.scalar(select(SearchQuery.id)) is None


def test_searcher_of_takes_the_vendor_of_the_agent_or_partner_manager(make_user):
    agent = make_user("agent", vendor="apex-cx")
    manager = make_user("partner_manager", vendor="northwind-bpo")
    trainer = make_user("trainer")
    assert search_log.searcher_of(agent, "T1") == Searcher("T1", "agent", "apex-cx")
    assert search_log.searcher_of(manager, "T1") == Searcher("T1", "partner_manager", "northwind-bpo")
    assert search_log.searcher_of(trainer, "T2") == Searcher("T2", "trainer", None)


# --- typing bursts -------------------------------------------------------------------------------


def test_a_typing_burst_refines_one_row(session):
    first = record(session, "s", 9)
    row = first
    for n, text in enumerate(["si", "sim", "sim sw", "sim swap"], start=1):
        row = record(session, text, 2, at=NOW + timedelta(seconds=n), refines=row.id)
    assert row.id == first.id
    assert session.scalars(select(SearchQuery.query)).all() == ["sim swap"]


def test_a_search_read_longer_than_the_window_stays(session):
    first = record(session, "hacked")
    later = record(session, "hacked email", at=NOW + timedelta(seconds=search_log.REFINE_SECONDS + 1), refines=first.id)
    assert later.id != first.id
    assert sorted(session.scalars(select(SearchQuery.query))) == ["hacked", "hacked email"]


def test_a_search_with_an_opened_result_is_never_rewritten(session):
    first = record(session, "ato")
    click(session, first)
    later = record(session, "ato recovery", at=NOW + timedelta(seconds=2), refines=first.id)
    assert later.id != first.id
    assert session.get(SearchQuery, first.id).query == "ato"


def test_refining_another_tiers_row_adds_a_row(session):
    first = record(session, "insider", who=T2_AGENT)
    other = record(session, "insider", at=NOW + timedelta(seconds=1), refines=first.id)
    assert other.id != first.id and other.tier == "T1"


def test_an_older_request_arriving_late_does_not_rewind_a_row(session):
    first = record(session, "sim swap", at=NOW + timedelta(seconds=5))
    late = record(session, "sim", at=NOW + timedelta(seconds=4), refines=first.id)
    assert late.id != first.id  # not refined backwards in time


def test_clicks_are_only_recorded_for_the_readers_tier(session):
    row = record(session, "ledger", who=T2_AGENT)
    assert search_log.record_click(session, row.id, tier="T1", sop_id="X", target="/sop/", rank=1, now=NOW) is None
    assert search_log.record_click(session, 10**6, tier="T2", sop_id="X", target="/sop/", rank=1, now=NOW) is None
    assert search_log.record_click(session, row.id, tier="T2", sop_id="X", target="/sop/", rank=2, now=NOW) is not None


def test_purge_removes_old_searches_and_their_clicks(session):
    old = record(session, "old", at=NOW - timedelta(days=400))
    click(session, old, at=NOW - timedelta(days=400))
    record(session, "new")
    assert search_log.purge_before(session, NOW - timedelta(days=365)) == 1
    session.commit()
    assert session.scalars(select(SearchQuery.query)).all() == ["new"]
    assert session.scalar(select(SearchClick.id)) is None


# --- reports -------------------------------------------------------------------------------------


def test_week_of_is_the_utc_monday():
    assert search_log.week_of(NOW) == THIS_WEEK
    assert search_log.week_of(datetime(2026, 11, 23, 0, 30, tzinfo=timezone(timedelta(hours=2)))) == date(2026, 11, 16)
    assert search_log.week_of(date(2026, 11, 29)) == THIS_WEEK


@pytest.fixture
def history(session):
    """Three weeks of searches: this week, last week and five weeks ago, T1 and T2, agents and a trainer."""
    last_week = NOW - timedelta(days=7)
    rows = {
        "hacked this": record(session, "hacked", 5),
        "hacked this 2": record(session, "Hacked", 4, at=NOW + timedelta(minutes=5)),
        "hacked last": record(session, "hacked", 5, at=last_week),
        "xylophone": record(session, "xylophone", 0),
        "xylophone 2": record(session, "xylophone", 0, at=last_week),
        "lost phone": record(session, "lost phone", 3),
        "ledger": record(session, "ledger", 0, who=T2_AGENT),
        "trainer": record(session, "trainer test", 0, who=TRAINER),
        "ancient": record(session, "ancient", 0, at=NOW - timedelta(weeks=5)),
    }
    click(session, rows["hacked this"])
    click(session, rows["hacked this"], rank=2)
    click(session, rows["hacked last"])
    return rows


def test_weekly_summary_counts_each_week_and_shows_empty_ones(session, history):
    weeks = search_log.weekly_summary(session, Window(weeks=4), now=NOW)
    assert [w.week_start for w in weeks] == [THIS_WEEK - timedelta(weeks=n) for n in range(4)]
    this, last = weeks[0], weeks[1]
    assert (this.searches, this.zero_result, this.opened, this.clicks) == (5, 2, 1, 2)  # trainer excluded
    assert (last.searches, last.zero_result, last.opened, last.clicks) == (2, 1, 1, 1)
    assert weeks[2].searches == weeks[3].searches == 0
    assert this.zero_result_pct == 40.0 and this.opened_pct == 20.0


def test_everyone_includes_staff_and_a_tier_narrows(session, history):
    everyone = search_log.weekly_summary(session, Window(weeks=1, agents_only=False), now=NOW)
    assert everyone[0].searches == 6
    t2 = search_log.weekly_summary(session, Window(weeks=1, tier="T2", agents_only=False), now=NOW)
    assert t2[0].searches == 2


def test_top_queries_group_the_normalised_text(session, history):
    top = search_log.top_queries(session, Window(weeks=4), now=NOW)
    assert [(r.query, r.searches, r.opened, r.clicks) for r in top[:2]] == [("hacked", 3, 2, 3), ("xylophone", 2, 0, 0)]
    assert top[0].last_searched == NOW + timedelta(minutes=5)
    assert "ancient" not in [r.query for r in top]  # outside the window


def test_zero_result_queries_are_the_content_gaps(session, history):
    zero = search_log.zero_result_queries(session, Window(weeks=4, agents_only=False), now=NOW)
    assert [(r.query, r.zero_result) for r in zero] == [("xylophone", 2), ("ledger", 1), ("trainer test", 1)]
    only_t1 = search_log.zero_result_queries(session, Window(weeks=4, tier="T1"), now=NOW)
    assert [r.query for r in only_t1] == ["xylophone"]


def test_unopened_queries_found_something_nobody_opened(session, history):
    unopened = search_log.unopened_queries(session, Window(weeks=4), now=NOW)
    assert [(r.query, r.searches, r.avg_results) for r in unopened] == [("lost phone", 1, 3.0)]


def test_one_week_of_the_window(session, history):
    last = search_log.top_queries(session, Window(weeks=4, week=THIS_WEEK - timedelta(days=5)), now=NOW)
    assert sorted((r.query, r.searches) for r in last) == [("hacked", 1), ("xylophone", 1)]


def test_export_rows_per_week_tier_and_query(session, history):
    rows = search_log.export_rows(session, Window(weeks=2, agents_only=False), now=NOW)
    assert rows[0] == {
        "week_start": "2026-11-23",
        "tier": "T1",
        "query": "hacked",
        "searches": 2,
        "zero_result": 0,
        "opened": 1,
        "clicks": 2,
        "avg_results": 4.5,
    }
    assert {(r["week_start"], r["query"]) for r in rows} >= {
        ("2026-11-16", "hacked"),
        ("2026-11-23", "ledger"),
        ("2026-11-23", "trainer test"),
    }
    assert all(tuple(r) == search_log.EXPORT_COLUMNS for r in rows)


def test_window_totals_count_the_window_or_one_week(session, history):
    totals = search_log.window_totals(session, Window(weeks=4), now=NOW)
    assert (totals.week_start, totals.searches, totals.zero_result, totals.opened, totals.clicks) == (
        THIS_WEEK - timedelta(weeks=3),
        7,
        3,
        2,
        3,
    )
    one = search_log.window_totals(session, Window(weeks=4, week=THIS_WEEK - timedelta(days=7)), now=NOW)
    assert (one.week_start, one.searches) == (THIS_WEEK - timedelta(days=7), 2)
    assert search_log.window_totals(session, Window(weeks=1, tier="T2"), now=NOW).searches == 1


def test_purge_command_deletes_old_searches(runner, engine):
    from datetime import datetime, timedelta, timezone

    from kb_app.db import session_scope
    from kb_app.models.search_log import SearchQuery

    old = datetime.now(timezone.utc) - timedelta(days=400)
    with session_scope(engine) as session:
        for when in (old, datetime.now(timezone.utc)):
            session.add(
                SearchQuery(
                    searched_at=when,
                    week_start=when.date(),
                    query="2fa reset",
                    filters="",
                    tier="T1",
                    role="agent",
                    vendor="apex-cx",
                    result_count=3,
                )
            )
    result = runner.invoke(["search-log", "purge", "--older-than", "365", "--json"])
    assert result.exit_code == 0, result.output
    assert '"deleted": 1' in result.stdout

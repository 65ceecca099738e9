"""Acting on coverage, on a real database (SQLite and PostgreSQL): overdue agents one row each with
the SOPs they owe, filtered and sorted in SQL; coverage worst first; "remind these agents" over a
real SMTP server, never twice in the window."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select

from kb_app.acks.acknowledge import acknowledge, what_changed
from kb_app.acks.coverage import (
    CoverageFilter,
    ReportError,
    coverage,
    overdue_by_agent,
    overdue_choices,
    sort_rows,
)
from kb_app.acks.publishing import publish, sync_assignments
from kb_app.acks.reminders import plan_overdue_reminders, plan_reminders, send_reminders
from kb_app.catalog import load_catalog
from kb_app.config import Settings
from kb_app.db import session_factory, session_scope
from kb_app.models import Agent, ReminderLog
from kb_app.quizzes.library import load_directory
from tests.fixtures.smtp import free_port

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
LATER = NOW + timedelta(days=10)  # every requirement published at NOW is overdue
HISTORY = [{"version": "1.0", "date": "2026-01-01", "summary": "First."}]
PEOPLE = [
    # employee id, vendor, site, team, team leader
    ("N1", "northwind-bpo", "manila", "manila-1", "Lead Reyes"),
    ("N2", "northwind-bpo", "manila", "manila-2", "Lead Cruz"),
    ("N3", "northwind-bpo", "cebu", "cebu-1", "Lead Cruz"),
    ("A1", "apex-cx", "bogota", "bogota-1", "Lead Gomez"),
    ("A2", "apex-cx", "bogota", "bogota-1", "Lead Gomez"),
]


@pytest.fixture
def world(engine, sop_dir, tmp_path):
    """Two SOPs published at NOW for five T1 agents; ATO-RECOVERY 2.0 is gated by an update quiz."""
    with session_scope(engine) as session:
        for emp, vendor, site, team, lead in PEOPLE:
            session.add(
                Agent(
                    employee_id=emp,
                    name=f"Agent {emp}",
                    email=f"{emp.lower()}@example.com",
                    tier="T1",
                    vendor=vendor,
                    site=site,
                    team=team,
                    language="en",
                    manager=lead,
                    start_date=date(2025, 6, 1),
                )
            )
    sop_dir.write(
        "ATO-RECOVERY",
        version="2.0",
        changelog=[{"version": "2.0", "date": "2026-03-01", "summary": "Two signals."}, *HISTORY],
    )
    sop_dir.write("SIM-SWAP")
    quiz_dir = tmp_path / "quizzes"
    quiz_dir.mkdir()
    (quiz_dir / "update-ato-recovery-2-0.yml").write_text(
        "id: update-ato-recovery-2-0\ntitle: ATO recovery 2.0\nkind: update\ntier: T1\nsops: [ATO-RECOVERY]\n"
        'version: "2.0"\npass_mark: 80\nquestions_per_attempt: 1\ntime_limit_minutes: 10\nattempts_per_day: 3\n'
        "cooldown_hours: 1\nvalid_days: 365\nreview_shows_answers: true\nquestions:\n"
        "  - id: q1\n    type: true_false\n    source: ATO-RECOVERY#purpose\n    stem: Two signals are needed.\n"
        "    answer: true\n    explanation: Version 2.0 asks for two.\n",
        encoding="utf-8",
    )
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=NOW, by="test", quiz_banks=load_directory(quiz_dir))
    # N1 acknowledged both (ATO-RECOVERY awaits its quiz, SIM-SWAP is done); A1 acknowledged SIM-SWAP.
    for emp, sop_id in (("N1", "ATO-RECOVERY"), ("N1", "SIM-SWAP"), ("A1", "SIM-SWAP")):
        with session_scope(engine) as session:
            who = session.scalars(select(Agent).where(Agent.employee_id == emp)).one()
            acknowledge(session, who, sop_id, what_changed(session, who, sop_id).content_hash, now=NOW)
    return engine


class CountQueries:
    def __init__(self, session):
        self.n = 0
        self.bind = session.get_bind()

    def __enter__(self):
        event.listen(self.bind, "before_cursor_execute", self._count)
        return self

    def _count(self, conn, cursor, statement, *args):
        self.n += statement.lstrip().upper().startswith("SELECT")

    def __exit__(self, *exc):
        event.remove(self.bind, "before_cursor_execute", self._count)


def test_one_row_per_overdue_agent_with_the_sops_they_owe(world):
    with session_scope(world) as session:
        rows = overdue_by_agent(session, now=LATER, sort="name")
    by_id = {row.employee_id: row for row in rows}
    assert list(by_id) == ["A1", "A2", "N1", "N2", "N3"]
    assert by_id["N2"].owed == 2 and [s.sop_id for s in by_id["N2"].sops] == ["ATO-RECOVERY", "SIM-SWAP"]
    assert by_id["A1"].owed == 1 and [s.label for s in by_id["A1"].sops] == ["ATO-RECOVERY v2.0"]
    # N1 acknowledged ATO-RECOVERY but has not passed its quiz: still owed, marked as awaiting it.
    [owed] = by_id["N1"].sops
    assert (owed.sop_id, owed.awaiting_quiz) == ("ATO-RECOVERY", True)
    assert owed.label == "ATO-RECOVERY v2.0 (acknowledged, awaiting quiz)"
    assert by_id["N1"].to_dict()["awaiting_quiz"] == 1
    assert all(sop.due_at == NOW + timedelta(days=7) for row in rows for sop in row.sops)
    assert by_id["N2"].oldest_due_at == NOW + timedelta(days=7)


def test_nobody_is_overdue_before_the_due_date(world):
    with session_scope(world) as session:
        assert overdue_by_agent(session, now=NOW + timedelta(days=1)) == []


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (CoverageFilter(vendor="northwind-bpo"), ["N1", "N2", "N3"]),
        (CoverageFilter(site="manila"), ["N1", "N2"]),
        (CoverageFilter(team="bogota-1"), ["A1", "A2"]),
        (CoverageFilter(team_leader="Lead Cruz"), ["N2", "N3"]),
        (CoverageFilter(sop_id="SIM-SWAP"), ["A2", "N2", "N3"]),
        (CoverageFilter(vendor="apex-cx", sop_id="SIM-SWAP"), ["A2"]),
        (CoverageFilter(vendor="no-such-vendor"), []),
    ],
)
def test_filters_by_site_team_team_leader_and_sop(world, flt, expected):
    with session_scope(world) as session:
        rows = overdue_by_agent(session, now=LATER, flt=flt, sort="employee_id")
    assert [r.employee_id for r in rows] == expected
    if flt.sop_id:
        assert all([s.sop_id for s in r.sops] == [flt.sop_id] for r in rows)


def test_sorts_in_sql_by_any_column_and_refuses_an_unknown_one(world):
    with session_scope(world) as session:
        by_owed = overdue_by_agent(session, now=LATER, sort="owed", descending=True)
        assert [r.owed for r in by_owed] == [2, 2, 2, 1, 1]
        assert [r.employee_id for r in by_owed] == ["A2", "N2", "N3", "A1", "N1"]  # ties by name
        by_site = overdue_by_agent(session, now=LATER, sort="site", descending=True)
        assert [r.site for r in by_site] == ["manila", "manila", "cebu", "bogota", "bogota"]
        assert [r.employee_id for r in overdue_by_agent(session, now=LATER, sort="team_leader")][:2] == ["N2", "N3"]
        with pytest.raises(ReportError, match="cannot sort overdue agents by 'email'"):
            overdue_by_agent(session, now=LATER, sort="email")


def test_the_list_and_its_filter_menus_take_one_query_each_whatever_the_roster_size(world):
    with session_scope(world) as session:
        for n in range(40):
            session.add(
                Agent(
                    employee_id=f"X{n}",
                    name=f"Extra {n}",
                    email=f"x{n}@example.com",
                    tier="T1",
                    vendor="northwind-bpo",
                    site="manila",
                    team="manila-1",
                    language="en",
                    manager="Lead Reyes",
                    start_date=date(2025, 6, 1),
                )
            )
    with session_scope(world) as session, CountQueries(session) as small:
        overdue_by_agent(session, now=LATER)
        overdue_choices(session, now=LATER)
    with session_scope(world) as session:
        sync_assignments(session, now=NOW, onboarding_days=14)
    with session_scope(world) as session, CountQueries(session) as large:
        rows = overdue_by_agent(session, now=LATER)
        overdue_choices(session, now=LATER)
    assert len(rows) > 40
    assert small.n == large.n == 2


def test_filter_menus_stay_inside_a_partner_managers_vendor(world):
    with session_scope(world) as session:
        mine = overdue_choices(session, now=LATER, vendor="apex-cx")
        everyone = overdue_choices(session, now=LATER)
    assert (mine.vendors, mine.sites, mine.teams, mine.team_leaders) == (
        ["apex-cx"],
        ["bogota"],
        ["bogota-1"],
        ["Lead Gomez"],
    )
    assert mine.sops == ["ATO-RECOVERY", "SIM-SWAP"]
    assert everyone.vendors == ["apex-cx", "northwind-bpo"] and "Lead Cruz" in everyone.team_leaders


def test_coverage_sorts_worst_first_and_by_any_column(world):
    with session_scope(world) as session:
        worst = coverage(session, by=["site"], now=LATER, sort="worst")
        by_name = coverage(session, by=["site"], now=LATER, sort="site", descending=True)
        with pytest.raises(ReportError, match="cannot sort coverage by 'nope'"):
            coverage(session, by=["site"], now=LATER, sort="nope")
    shares = [row.percent_acknowledged for row in worst]
    assert shares == sorted(shares)
    assert worst[0].group["site"] == "cebu" and shares[0] == 0.0  # nobody in Cebu acknowledged anything
    assert [row.group["site"] for row in by_name] == ["manila", "cebu", "bogota"]
    assert sort_rows(worst, "overdue", descending=True)[0].overdue == max(r.overdue for r in worst)


def test_awaiting_quiz_is_split_between_pending_and_overdue(world):
    with session_scope(world) as session:
        [before] = coverage(
            session, by=["vendor"], now=NOW + timedelta(days=1), flt=CoverageFilter(vendor="northwind-bpo")
        )
        [after] = coverage(session, by=["vendor"], now=LATER, flt=CoverageFilter(vendor="northwind-bpo"))
    assert (before.awaiting_quiz, before.awaiting_quiz_pending, before.awaiting_quiz_overdue) == (1, 1, 0)
    assert before.unacknowledged_pending == before.pending - 1
    assert (after.awaiting_quiz, after.awaiting_quiz_pending, after.awaiting_quiz_overdue) == (1, 0, 1)
    assert after.unacknowledged_overdue == after.overdue - 1


@pytest.fixture
def mail(smtp):
    """The SMTP server's inbox, and settings that send to it."""
    inbox, port = smtp
    return inbox, Settings.from_env(smtp_host="127.0.0.1", smtp_port=port, mail_from="kb@example.com")


def test_remind_these_agents_sends_now_and_never_twice_in_the_window(world, mail):
    inbox, settings = mail
    scope = CoverageFilter(vendor="northwind-bpo", site="manila")
    with session_factory(world)() as session:
        plan = plan_overdue_reminders(session, scope, now=LATER, base_url="https://kb.example")
        assert plan.agents == 2 and plan.skipped == []
        assert send_reminders(session, plan.reminders, settings, now=LATER) == 2
    assert sorted(m["To"] for m in inbox.messages) == ["n1@example.com", "n2@example.com"]
    n2 = next(m for m in inbox.messages if m["To"] == "n2@example.com")
    assert "ATO-RECOVERY v2.0" in n2.get_content() and "SIM-SWAP v1.0" in n2.get_content()
    assert "https://kb.example/reading-list" in n2.get_content()

    # A second click within 24 hours sends nothing and says why.
    with session_scope(world) as session:
        again = plan_overdue_reminders(session, scope, now=LATER + timedelta(hours=2))
    assert again.reminders == []
    assert [(s.employee_id, s.reason) for s in again.skipped] == [
        ("N1", "already reminded in the last 24 hours"),
        ("N2", "already reminded in the last 24 hours"),
    ]
    assert again.reasons() == {"already reminded in the last 24 hours": 2}

    # ... and the hourly `kb remind` does not repeat them either (same log), while N3 is still due one.
    with session_scope(world) as session:
        cron = plan_reminders(session, now=LATER + timedelta(hours=2))
    assert {r.recipient for r in cron if r.kind == "agent"} == {"n3@example.com", "a1@example.com", "a2@example.com"}

    # After the window they can be reminded again.
    with session_scope(world) as session:
        assert len(plan_overdue_reminders(session, scope, now=LATER + timedelta(hours=25)).reminders) == 2


def test_remind_never_reaches_agents_outside_the_filter(world, mail):
    inbox, settings = mail
    with session_factory(world)() as session:
        plan = plan_overdue_reminders(session, CoverageFilter(vendor="apex-cx", sop_id="SIM-SWAP"), now=LATER)
        send_reminders(session, plan.reminders, settings, now=LATER)
        logged = session.scalar(select(func.count()).select_from(ReminderLog))
    assert [m["To"] for m in inbox.messages] == ["a2@example.com"]
    assert "ATO-RECOVERY" not in inbox.messages[0].get_content()
    assert logged == 1


def test_a_failed_send_logs_nothing(world):
    with session_factory(world)() as session:
        plan = plan_overdue_reminders(session, CoverageFilter(vendor="apex-cx"), now=LATER)
        with pytest.raises(OSError):
            send_reminders(
                session, plan.reminders, Settings.from_env(smtp_host="127.0.0.1", smtp_port=free_port()), now=LATER
            )
    with session_scope(world) as session:
        assert session.scalar(select(func.count()).select_from(ReminderLog)) == 0

"""Readiness for a crisis (kb_app.acks.crisis): who is ready against headcount by vendor, site
and team, and an open bulletin's acknowledgement curve and projection, on a real database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, update

from kb_app.acks import crisis, gates
from kb_app.acks import acknowledge as acks
from kb_app.acks.publishing import publish, sync_assignments
from kb_app.catalog import load_catalog
from kb_app.models import Requirement
from kb_app.quizzes import attempts
from kb_app.quizzes.library import load_directory
from kb_app.versions import latest_version
from tests.quizzes.factories import answers_for, make_bank, write_bank

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)
BANKS = {"T1": ["cert-t1"]}


def certify(session, user, bank, now, *, right=True):
    attempt = attempts.start_attempt(session, user, bank, now=now).attempt
    result = attempts.submit_attempt(
        session, user, attempt.public_id, answers_for(bank, attempt.drawn, right=right), now=now + timedelta(minutes=3)
    )
    if result.result.passed:
        gates.on_update_quiz_passed(session, attempt.agent_id, bank)
    session.commit()


def ack(session, user, sop_id, now):
    version = latest_version(session, sop_id)
    acks.acknowledge(session, user.agent, sop_id, version.tier_hashes[user.agent.tier], now=now)
    session.commit()


@pytest.fixture
def floor(session, make_user, sop_dir):
    """ATO-RECOVERY (an SOP) published at T0 and a 4-hour bulletin at T0 + 1 day; six agents."""
    sop_dir.write("ATO-RECOVERY")
    publish(session, load_catalog(sop_dir.root), now=T0, by="test")
    session.commit()
    start = (T0 - timedelta(days=90)).date()
    people = {
        "ready": make_user("agent", vendor="northwind-bpo", site="manila", team="m1", start_date=start),
        "behind": make_user("agent", vendor="northwind-bpo", site="manila", team="m1", start_date=start),
        "uncertified": make_user("agent", vendor="northwind-bpo", site="cebu", team="c1", start_date=start),
        "apex": make_user("agent", vendor="apex-cx", site="bogota", team="b1", start_date=start),
        "gone": make_user("agent", vendor="apex-cx", site="bogota", team="b1", start_date=start, active=False),
        "tier2": make_user("agent", vendor="in-house", site="dublin", team="d1", tier="T2", start_date=start),
    }
    sync_assignments(session, now=T0)
    session.commit()
    bank = make_bank("cert-t1", cooldown_hours=0, attempts_per_day=10)
    for name in ("ready", "behind", "apex"):
        certify(session, people[name], bank, T0 + timedelta(hours=1))
    certify(session, people["uncertified"], bank, T0 + timedelta(hours=1), right=False)
    for name in ("ready", "behind", "uncertified", "apex", "tier2"):
        ack(session, people[name], "ATO-RECOVERY", T0 + timedelta(hours=2))
    bulletin_at = T0 + timedelta(days=1)
    sop_dir.write("BUL-WAVE", kind="bulletin", ack_within="4h", tags=["bulletin"])
    publish(session, load_catalog(sop_dir.root), now=bulletin_at, by="test")
    session.commit()
    for name, minutes in (("ready", 20), ("uncertified", 50), ("apex", 70), ("tier2", 100)):
        ack(session, people[name], "BUL-WAVE", bulletin_at + timedelta(minutes=minutes))
    return people, bulletin_at


def test_ready_agents_against_headcount_by_vendor_site_and_team(session, floor):
    _, bulletin_at = floor
    now = bulletin_at + timedelta(hours=2)
    rows = crisis.readiness(session, by=["vendor", "site", "team"], now=now, certification_banks=BANKS)
    got = {(r.group["vendor"], r.group["site"], r.group["team"]): r.to_dict() for r in rows}
    assert set(got) == {
        ("apex-cx", "bogota", "b1"),
        ("in-house", "dublin", "d1"),
        ("northwind-bpo", "cebu", "c1"),
        ("northwind-bpo", "manila", "m1"),
    }
    # The deactivated apex agent is out of the headcount; the T2 agent has no certification bank to hold.
    assert got[("apex-cx", "bogota", "b1")] == {
        "vendor": "apex-cx",
        "site": "bogota",
        "team": "b1",
        "headcount": 1,
        "ready": 1,
        "ready_pct": 100.0,
        "not_ready": 0,
        "not_certified": 0,
        "not_acknowledged": 0,
        "awaiting_quiz": 0,
    }
    manila = got[("northwind-bpo", "manila", "m1")]
    assert (manila["headcount"], manila["ready"], manila["not_acknowledged"]) == (2, 1, 1)
    cebu = got[("northwind-bpo", "cebu", "c1")]
    assert (cebu["headcount"], cebu["ready"], cebu["not_certified"]) == (1, 0, 1)
    assert got[("in-house", "dublin", "d1")]["ready"] == 1

    by_vendor = {
        r.group["vendor"]: r for r in crisis.readiness(session, by=["vendor"], now=now, certification_banks=BANKS)
    }
    assert by_vendor["northwind-bpo"].headcount == 3 and by_vendor["northwind-bpo"].ready == 1
    # The rollup of the finest rows gives the same figures as asking SQL for the coarser grouping.
    rolled = {r.group["vendor"]: r.to_dict() for r in crisis.rollup(rows, ["vendor"])}
    assert rolled == {v: r.to_dict() for v, r in by_vendor.items()}


def test_an_expired_bulletin_and_a_closed_requirement_stop_counting(session, floor):
    people, bulletin_at = floor
    before_expiry = bulletin_at + timedelta(hours=1)
    [manila] = crisis.readiness(
        session, by=["site"], now=before_expiry, certification_banks=BANKS, flt=crisis.ReadinessFilter(site="manila")
    )
    assert manila.ready == 1
    # Behind on the bulletin only: once the bulletin is retired (closed), they are ready.
    session.execute(update(Requirement).where(Requirement.sop_id == "BUL-WAVE").values(closed_at=before_expiry))
    session.flush()
    [manila] = crisis.readiness(
        session, by=["site"], now=before_expiry, certification_banks=BANKS, flt=crisis.ReadinessFilter(site="manila")
    )
    assert (manila.headcount, manila.ready) == (2, 2)


def test_certification_rules_are_the_certification_modules(session, floor):
    """Expired and recertification-due certifications do not count; no bank means none needed."""
    _, bulletin_at = floor
    later = T0 + timedelta(days=366)
    flt = crisis.ReadinessFilter(vendor="apex-cx")
    [row] = crisis.readiness(session, by=["vendor"], now=later, certification_banks=BANKS, flt=flt)
    assert row.not_certified == 1  # a year later the pass has expired
    [row] = crisis.readiness(session, by=["vendor"], now=bulletin_at, certification_banks={}, flt=flt)
    assert row.not_certified == 0


def test_a_gated_acknowledgement_awaits_its_quiz(session, make_user, sop_dir, tmp_path):
    sop_dir.write("ATO-RECOVERY")
    publish(session, load_catalog(sop_dir.root), now=T0, by="test")
    quiz_dir = tmp_path / "quizzes"
    update_bank = make_bank("update-ato-1-0", kind="update", version="1.0", cooldown_hours=0, attempts_per_day=10)
    write_bank(quiz_dir, update_bank)
    gates.record_gate_decisions(session, load_directory(quiz_dir), now=T0, final=True)
    session.commit()
    user = make_user("agent", start_date=(T0 - timedelta(days=30)).date())
    sync_assignments(session, now=T0)
    session.commit()
    ack(session, user, "ATO-RECOVERY", T0 + timedelta(hours=1))
    [row] = crisis.readiness(session, by=["vendor"], now=T0 + timedelta(hours=2), certification_banks={})
    assert (row.ready, row.not_acknowledged, row.awaiting_quiz) == (0, 0, 1)
    certify(session, user, update_bank, T0 + timedelta(hours=2))
    [row] = crisis.readiness(session, by=["vendor"], now=T0 + timedelta(hours=3), certification_banks={})
    assert (row.ready, row.awaiting_quiz) == (1, 0)


def test_readiness_takes_three_queries_whatever_the_grouping_and_the_data(session, floor, engine):
    _, bulletin_at = floor
    statements = []

    def count(conn, cursor, statement, *_):
        # Not counted: the savepoints of PostgreSQL tests, and the setting readiness makes there.
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "SET LOCAL")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        crisis.readiness(session, by=["vendor", "site", "team"], now=bulletin_at, certification_banks=BANKS)
        readiness = len(statements)
        statements.clear()
        crisis.open_bulletins(session, now=bulletin_at + timedelta(hours=1))
        three = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # Readiness: the open requirements and their gates, the SOPs with a later major, the aggregate.
    assert (readiness, three) == (3, 3)


def test_an_unknown_grouping_is_refused_by_name(session):
    with pytest.raises(crisis.ReadinessError, match="'shift'"):
        crisis.readiness(session, by=["vendor", "shift"], now=T0, certification_banks={})


class TestBulletinProjection:
    def test_the_curve_and_the_projection_by_vendor(self, session, floor):
        _, bulletin_at = floor
        now = bulletin_at + timedelta(minutes=90)
        [bulletin] = crisis.open_bulletins(session, now=now)
        assert bulletin.sop_id == "BUL-WAVE" and bulletin.deadline_hours == 4.0
        assert bulletin.curve[0].acknowledged == 0 and bulletin.curve[-1].acknowledged == 3
        assert bulletin.curve[-1].hours == 1.5
        counts = [p.acknowledged for p in bulletin.curve]
        assert counts == sorted(counts)
        by_vendor = {p.vendor: p for p in bulletin.by_vendor}
        # northwind: 2 of 3 active agents, both within the first hour -> none in the last hour
        northwind = by_vendor["northwind-bpo"]
        assert (northwind.population, northwind.acknowledged) == (3, 2)
        assert northwind.recent == 1  # the 50-minute acknowledgement is within the last hour (30 to 90 minutes)
        assert northwind.state == "on_track"
        assert northwind.projected_at == now + timedelta(hours=1)  # 1 left at 1 per hour
        apex = by_vendor["apex-cx"]
        assert (apex.population, apex.acknowledged, apex.state) == (1, 1, "complete")
        overall = bulletin.overall
        assert (overall.population, overall.acknowledged) == (5, 3)

    def test_no_acknowledgements_yet_cannot_project(self, session, floor):
        _, bulletin_at = floor
        [bulletin] = crisis.open_bulletins(session, now=bulletin_at + timedelta(minutes=10))
        assert bulletin.overall.acknowledged == 0
        assert bulletin.overall.state == "cannot_project"
        assert bulletin.overall.projected_at is None
        assert bulletin.overall.note == "no acknowledgements yet, cannot project"

    def test_a_stalled_rate_cannot_project_either(self, session, floor):
        _, bulletin_at = floor
        [bulletin] = crisis.open_bulletins(
            session,
            now=bulletin_at + timedelta(hours=3, minutes=30),
            flt=crisis.ReadinessFilter(vendor="northwind-bpo"),
        )
        assert [p.vendor for p in bulletin.by_vendor] == ["northwind-bpo"]
        assert bulletin.overall.state == "cannot_project"
        assert bulletin.overall.note == "no acknowledgements in the last 60 minutes, cannot project"

    def test_a_late_projection_says_so(self):
        now = T0
        projection = crisis.project(
            vendor="x",
            population=100,
            acknowledged=10,
            recent=10,
            window=timedelta(hours=1),
            due_at=now + timedelta(hours=2),
            now=now,
        )
        assert projection.state == "late" and projection.hours_to_full == 9.0

    def test_a_tier2_only_bulletin_is_not_shown_to_tier1_readers(self, session, sop_dir, make_user):
        sop_dir.write("BUL-T2", kind="bulletin", ack_within="4h", visibility="t2_only", audience={"tiers": ["T2"]})
        make_user("agent", tier="T2", vendor="in-house")
        publish(session, load_catalog(sop_dir.root), now=T0, by="test")
        session.commit()
        assert [b.sop_id for b in crisis.open_bulletins(session, now=T0 + timedelta(hours=1), tier="T2")] == ["BUL-T2"]
        assert crisis.open_bulletins(session, now=T0 + timedelta(hours=1), tier="T1") == []

    def test_an_expired_bulletin_is_not_open(self, session, sop_dir):
        sop_dir.write("BUL-OLD", kind="bulletin", ack_within="4h", expires="2026-11-02T10:00:00Z")
        publish(session, load_catalog(sop_dir.root), now=T0, by="test")
        session.commit()
        assert [b.sop_id for b in crisis.open_bulletins(session, now=T0 + timedelta(hours=1))] == ["BUL-OLD"]
        assert crisis.open_bulletins(session, now=T0 + timedelta(hours=3)) == []

"""Coverage rollups equal the aggregation of the raw rows, after any sequence of publishes,
acknowledgements, update-quiz passes and roster imports (joiners, leavers, moves between teams and
vendors), on SQLite and PostgreSQL; `kb report coverage --verify` finds a cell that drifted."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select, text, update

from kb_app.acks import rollups
from kb_app.acks.acknowledge import AckError, acknowledge, what_changed
from kb_app.acks.coverage import CoverageFilter, coverage, coverage_from_rows
from kb_app.acks.gates import on_update_quiz_passed
from kb_app.acks.publishing import publish, sync_assignments
from kb_app.catalog import load_catalog
from kb_app.db import session_factory, session_scope
from kb_app.models import Agent, Assignment, User
from kb_app.models.quizzes import QuizAttempt, UpdateGate
from kb_app.quizzes.library import load_directory
from kb_app.roster import RosterRow, import_roster

START = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
SOPS = ("ATO-RECOVERY", "SIM-SWAP")
BODY = "## Purpose\n\nVerify the caller ({n}).\n\n/// tier | T2\nCheck the login IP history ({t2}).\n///\n"
PEOPLE = [  # employee id, tier, vendor, site, team, language, team leader
    ("N1", "T1", "northwind-bpo", "manila", "manila-a", "en", "Lead A"),
    ("N2", "T1", "northwind-bpo", "manila", "manila-a", "tl", "Lead A"),
    ("N3", "T1", "northwind-bpo", "cebu", "cebu-a", "en", None),
    ("A1", "T1", "apex-cx", "bogota", "bogota-a", "es", "Lead B"),
    ("A2", "T1", "apex-cx", "krakow", "krakow-a", "pl", "Lead C"),
    ("H1", "T2", "in-house", "dublin", "dublin-a", "en", "Lead D"),
]
GROUPINGS = [["requirement"], ["vendor", "site"], ["team", "team_leader"], ["language", "tier"], ["sop"]]
UPDATE_BANK = (
    "id: update-ato-recovery-{version}\ntitle: ATO recovery {dotted}\nkind: update\ntier: T1\nsops: [ATO-RECOVERY]\n"
    'version: "{dotted}"\npass_mark: 80\nquestions_per_attempt: 1\ntime_limit_minutes: 10\nattempts_per_day: 3\n'
    "cooldown_hours: 1\nvalid_days: 365\nreview_shows_answers: true\nquestions:\n"
    "  - id: q1\n    type: true_false\n    source: ATO-RECOVERY#purpose\n    stem: Two signals are needed.\n"
    "    answer: true\n    explanation: Two are asked for.\n"
)

events = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.sampled_from(SOPS), st.sampled_from(["major", "t2_only", "minor_ack"])),
        st.tuples(st.just("ack"), st.integers(0, 8), st.sampled_from(SOPS)),
        st.tuples(st.just("quiz_pass"), st.integers(0, 8)),
        st.tuples(st.just("move_team"), st.integers(0, 8), st.sampled_from(["manila-b", "cebu-a", "bogota-a"])),
        st.tuples(st.just("move_vendor"), st.integers(0, 8), st.sampled_from(["apex-cx", "lumen-support"])),
        st.tuples(st.just("leave"), st.integers(0, 8)),
        st.tuples(st.just("rejoin"), st.integers(0, 8)),
        st.tuples(st.just("join"), st.sampled_from(["T1", "T2"])),
        st.tuples(st.just("extend"), st.integers(0, 8), st.integers(-3, 5)),
    ),
    min_size=1,
    max_size=14,
)


class World:
    """The roster as the next import will send it, the SOP versions, and the clock."""

    def __init__(self, session, sop_dir, quiz_dir):
        self.session = session
        self.sop_dir = sop_dir
        self.quiz_dir = quiz_dir
        self.now = START
        self.sops: dict[str, tuple] = {}  # id -> (major, minor, T1 text no., T2 text no., changelog)
        self.roster = {
            emp: [emp, tier, vendor, site, team, lang, lead, True]
            for emp, tier, vendor, site, team, lang, lead in PEOPLE
        }
        self.joined = 0

    def rows(self) -> list[RosterRow]:
        return [
            RosterRow(
                line=line,
                employee_id=emp,
                name=f"Agent {emp}",
                email=f"{emp.lower()}@example.com",
                tier=tier,
                vendor=vendor,
                site=site,
                team=team,
                language=lang,
                manager=lead,
                start_date=date(2025, 6, 1),
                active=active,
            )
            for line, (emp, tier, vendor, site, team, lang, lead, active) in enumerate(self.roster.values(), start=2)
        ]

    def import_roster(self) -> None:
        import_roster(self.session, self.rows(), actor="test")
        sync_assignments(self.session, now=self.now)

    def person(self, index: int) -> list:
        return list(self.roster.values())[index % len(self.roster)]

    def agent(self, index: int) -> Agent:
        emp = self.person(index)[0]
        return self.session.scalars(select(Agent).where(Agent.employee_id == emp)).one()

    def publish(self, sop_id: str, change: str) -> None:
        """A new version: `major` changes both tiers' text, `t2_only` only the Tier 2 block,
        `minor_ack` is a minor that asks for acknowledgement."""
        major, minor, t1, t2, history = self.sops.get(sop_id, (0, 0, 0, 0, []))
        if change == "minor_ack" and major:
            minor, t1 = minor + 1, t1 + 1
        elif change == "t2_only" and major:
            major, minor, t2 = major + 1, 0, t2 + 1
        else:
            major, minor, t1, t2 = major + 1, 0, t1 + 1, t2 + 1
        version = f"{major}.{minor}"
        history = [{"version": version, "date": "2026-03-01", "summary": "Changed.", "ack_required": True}, *history]
        self.sops[sop_id] = (major, minor, t1, t2, history)
        self.sop_dir.write(sop_id, version=version, changelog=history, body=BODY.format(n=t1, t2=t2))
        if sop_id == "ATO-RECOVERY":  # every ATO-RECOVERY version has a Tier 1 update quiz
            (self.quiz_dir / "update.yml").write_text(
                UPDATE_BANK.format(version=version.replace(".", "-"), dotted=version), encoding="utf-8"
            )
        publish(
            self.session,
            load_catalog(self.sop_dir.root),
            now=self.now,
            by="test",
            quiz_banks=load_directory(self.quiz_dir),
        )

    def ack(self, index: int, sop_id: str) -> None:
        agent = self.agent(index)
        try:
            change = what_changed(self.session, agent, sop_id)
            with self.session.begin_nested():
                acknowledge(self.session, agent, sop_id, change.content_hash, now=self.now)
        except (AckError, LookupError):
            pass  # not in the audience, or nothing published: what a real agent would be told

    def quiz_pass(self, index: int) -> None:
        """The agent passes the update quiz of the newest ATO-RECOVERY version."""
        if "ATO-RECOVERY" not in self.sops:
            return
        major, minor, *_ = self.sops["ATO-RECOVERY"]
        banks = load_directory(self.quiz_dir).update_banks_for("ATO-RECOVERY", f"{major}.{minor}")
        gate = self.session.scalars(select(UpdateGate).order_by(UpdateGate.id.desc()).limit(1)).first()
        if not banks or gate is None:
            return
        agent = self.agent(index)
        user = self.session.scalars(select(User).where(User.agent_id == agent.id)).first()
        if user is None:
            user = User(
                email=f"{agent.employee_id.lower()}@example.com",
                role="agent",
                agent_id=agent.id,
                password_hash="x",
                session_nonce="n",
            )
            self.session.add(user)
            self.session.flush()
        self.session.add(
            QuizAttempt(
                public_id=uuid.uuid4().hex,
                user_id=user.id,
                agent_id=agent.id,
                bank_id=gate.bank_id,
                bank_hash=gate.bank_hash,
                kind="update",
                seed="s",
                drawn={},
                pass_mark=80,
                started_at=self.now,
                deadline=self.now + timedelta(minutes=10),
                status="submitted",
                submitted_at=self.now,
                submission={},
                score=1.0,
                max_score=1,
                percent=100.0,
                passed=True,
            )
        )
        self.session.flush()
        on_update_quiz_passed(self.session, agent.id, banks[0])

    def apply(self, event: tuple) -> None:
        kind, *args = event
        self.now += timedelta(hours=7)
        if kind == "publish":
            self.publish(*args)
        elif kind == "ack":
            self.ack(*args)
        elif kind == "quiz_pass":
            self.quiz_pass(*args)
        elif kind == "move_team":
            self.person(args[0])[4] = args[1]
            self.import_roster()
        elif kind == "move_vendor":
            self.person(args[0])[2] = args[1]
            self.import_roster()
        elif kind == "leave":
            self.person(args[0])[7] = False
            self.import_roster()
        elif kind == "rejoin":
            self.person(args[0])[7] = True
            self.import_roster()
        elif kind == "join":
            self.joined += 1
            emp = f"J{self.joined}"
            self.roster[emp] = [emp, args[0], "apex-cx", "bogota", "bogota-b", "es", None, True]
            self.import_roster()
        elif kind == "extend":
            assignment = self.session.scalars(
                select(Assignment).order_by(Assignment.id).offset(args[0]).limit(1)
            ).first()
            if assignment is not None:  # a trainer moves one agent's due date
                self.session.execute(
                    update(Assignment)
                    .where(Assignment.id == assignment.id)
                    .values(due_at=assignment.due_at + timedelta(days=args[1]))
                )


def assert_rollups_match_rows(session, now: datetime) -> None:
    assert rollups.verify(session) == []
    for by in GROUPINGS:
        for flt in (
            CoverageFilter(),
            CoverageFilter(open_only=False),
            CoverageFilter(vendor="apex-cx", open_only=False),
        ):
            from_rollups = [row.to_dict() for row in coverage(session, by=by, now=now, flt=flt)]
            from_rows = [row.to_dict() for row in coverage_from_rows(session, by=by, now=now, flt=flt)]
            assert from_rollups == from_rows, (by, flt)


def test_rollups_equal_the_raw_aggregation_after_any_sequence_of_events(engine, sop_dir, tmp_path):
    quiz_dir = tmp_path / "quizzes"
    quiz_dir.mkdir()
    make_session = session_factory(engine)

    @settings(
        max_examples=max(settings.default.max_examples // 10, 5), deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(events)
    def check(sequence):
        with make_session() as session:
            try:
                world = World(session, sop_dir, quiz_dir)
                world.import_roster()
                world.publish("ATO-RECOVERY", "major")
                for event in sequence:
                    world.apply(event)
                    session.flush()
                assert_rollups_match_rows(session, world.now)
                assert_rollups_match_rows(session, world.now + timedelta(days=10))  # pending turns overdue
            finally:
                session.rollback()
                for path in sop_dir.root.rglob("*.md"):
                    path.unlink()
                for path in quiz_dir.glob("*.yml"):
                    path.unlink()

    check()


def test_verify_finds_a_cell_that_drifted_and_repair_puts_it_right(engine, sop_dir):
    with session_scope(engine) as session:
        world = World(session, sop_dir, sop_dir.root.parent)
        world.import_roster()
        world.publish("ATO-RECOVERY", "major")
        world.ack(0, "ATO-RECOVERY")
        assert rollups.verify(session) == []
        session.execute(
            text(
                "UPDATE coverage_rollups SET on_time = on_time + 2 WHERE vendor = 'northwind-bpo' AND team = 'manila-a' AND language = 'en'"
            )
        )
        [difference] = rollups.verify(session)
        assert difference.key["team"] == "manila-a" and difference.columns == ["on_time"]
        assert "on_time" in str(difference) and json.dumps(difference.to_dict())
        assert rollups.repair(session) == 1
        assert rollups.verify(session) == []


@pytest.mark.fresh_db
def test_kb_report_coverage_verify_exits_1_on_a_difference(runner, db_url, sop_dir):
    from kb_app.db import engine_for

    engine = engine_for(db_url)
    with session_scope(engine) as session:
        world = World(session, sop_dir, sop_dir.root.parent)
        world.import_roster()
        world.publish("ATO-RECOVERY", "major")
    ok = runner.invoke(["report", "coverage", "--verify"])
    assert ok.exit_code == 0 and "match" in ok.output
    with engine.begin() as connection:
        connection.execute(text("UPDATE coverage_rollups SET unacked = unacked + 1 WHERE team = 'cebu-a'"))
    bad = runner.invoke(["report", "coverage", "--verify", "--json"])
    assert bad.exit_code == 1
    assert json.loads(bad.output)["differences"][0]["differences"] == {"unacked": {"stored": 2, "from_rows": 1}}
    fixed = runner.invoke(["report", "coverage", "--repair"])
    assert fixed.exit_code == 0 and "1 cells were wrong" in fixed.output
    assert runner.invoke(["report", "coverage", "--verify"]).exit_code == 0
    engine.dispose()

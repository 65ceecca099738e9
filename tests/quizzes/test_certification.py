"""Certifications (validity, recertification after a major version) and comprehension-checked
acknowledgements (an update quiz gates when an acknowledgement counts)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kb_app.acks import gates
from kb_app.acks import acknowledge as acks
from kb_app.quizzes import attempts, certification
from kb_app.catalog import load_catalog
from kb_app.models import Assignment, PublishedVersion
from kb_app.models.quizzes import UpdateGateDecision
from kb_app.acks.publishing import publish
from kb_app.versions import latest_version
from kb_app.quizzes.library import load_directory
from tests.quizzes.factories import answers_for, make_bank, write_bank

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc)
DUE_DAYS = 7


@pytest.fixture
def catalog(sop_dir):
    """Publish the SOP directory as it is now, at `now`."""

    def run(session, now):
        publish(session, load_catalog(sop_dir.root), now=now, by="test", due_days=DUE_DAYS)
        session.commit()

    return run


def take(session, user, bank, now, *, right=True):
    attempt = attempts.start_attempt(session, user, bank, now=now).attempt
    result = attempts.submit_attempt(
        session, user, attempt.public_id, answers_for(bank, attempt.drawn, right=right), now=now + timedelta(minutes=3)
    )
    if result.result.passed:  # what kb_app.services.quizzing.submit_quiz adds to a submission
        gates.on_update_quiz_passed(session, attempt.agent_id, bank)
    session.commit()
    return result


def status(session, user, bank, now):
    [found] = [
        s
        for s in certification.certifications_of(session, user.agent, [bank], now=now, due_days=DUE_DAYS)
        if s.bank_id == bank.id
    ]
    return found


class TestCertification:
    def test_a_pass_certifies_until_the_validity_ends(self, session, make_user, sop_dir, catalog):
        sop_dir.write("ATO-RECOVERY")
        catalog(session, T0)
        user = make_user("agent")
        bank = make_bank("cert-t1", valid_days=90)
        assert status(session, user, bank, T0).state == "none"
        take(session, user, bank, T0 + timedelta(days=1))
        passed_at = T0 + timedelta(days=1, minutes=3)
        valid = status(session, user, bank, T0 + timedelta(days=2))
        assert valid.state == "valid" and valid.certified and valid.expires_at == passed_at + timedelta(days=90)
        assert status(session, user, bank, passed_at + timedelta(days=70)).state == "expiring"
        assert status(session, user, bank, passed_at + timedelta(days=90)).state == "expired"

    def test_a_failed_attempt_certifies_nothing(self, session, make_user, sop_dir, catalog):
        sop_dir.write("ATO-RECOVERY")
        catalog(session, T0)
        user = make_user("agent")
        bank = make_bank("cert-t1")
        take(session, user, bank, T0, right=False)
        assert status(session, user, bank, T0 + timedelta(hours=1)).state == "none"

    def test_a_newer_major_after_the_pass_makes_recertification_due(self, session, make_user, sop_dir, catalog):
        sop_dir.write("ATO-RECOVERY", version="1.0")
        sop_dir.write("SIM-SWAP", version="2.0")
        catalog(session, T0)
        user = make_user("agent")
        bank = make_bank("cert-t1", sops=["ATO-RECOVERY", "SIM-SWAP"])
        take(session, user, bank, T0 + timedelta(days=1))
        # A minor change is editorial: the certification stands.
        sop_dir.write(
            "SIM-SWAP", version="2.1", body="## Purpose {#purpose}\n\nReworded.\n\n## Steps {#steps}\n\n1. Same.\n"
        )
        catalog(session, T0 + timedelta(days=5))
        assert status(session, user, bank, T0 + timedelta(days=6)).state == "valid"
        # A major change to a covered SOP ends it.
        major_at = T0 + timedelta(days=10)
        sop_dir.write(
            "ATO-RECOVERY", version="2.0", body="## Purpose {#purpose}\n\nNew rules.\n\n## Steps {#steps}\n\n1. New.\n"
        )
        catalog(session, major_at)
        due = status(session, user, bank, major_at + timedelta(days=1))
        assert due.state == "recertification_due" and not due.certified
        assert due.due_at == major_at + timedelta(days=DUE_DAYS) and due.changed == ["ATO-RECOVERY v2.0"]
        assert not due.overdue and status(session, user, bank, major_at + timedelta(days=DUE_DAYS + 1)).overdue
        # Passing again certifies against the new version.
        take(session, user, bank, major_at + timedelta(days=2))
        assert status(session, user, bank, major_at + timedelta(days=3)).state == "valid"

    def test_a_major_published_before_the_pass_does_not_end_it(self, session, make_user, sop_dir, catalog):
        sop_dir.write("ATO-RECOVERY", version="1.0")
        catalog(session, T0)
        sop_dir.write(
            "ATO-RECOVERY", version="2.0", body="## Purpose {#purpose}\n\nNew.\n\n## Steps {#steps}\n\n1. New.\n"
        )
        catalog(session, T0 + timedelta(days=1))
        user = make_user("agent")
        bank = make_bank("cert-t1")
        take(session, user, bank, T0 + timedelta(days=2))
        assert status(session, user, bank, T0 + timedelta(days=3)).state == "valid"

    def test_certifications_show_the_agents_tier_and_banks_no_longer_on_disk(
        self, session, make_user, sop_dir, catalog
    ):
        sop_dir.write("ATO-RECOVERY")
        catalog(session, T0)
        user = make_user("agent")
        retired = make_bank("cert-old")
        take(session, user, retired, T0)
        listed = certification.certifications_of(
            session,
            user.agent,
            [make_bank("cert-t1"), make_bank("cert-t2", tier="T2"), make_bank("upd", kind="update", version="1.0")],
            now=T0 + timedelta(days=1),
            due_days=DUE_DAYS,
        )
        assert {(s.bank_id, s.state) for s in listed} == {("cert-t1", "none"), ("cert-old", "valid")}
        assert next(s for s in listed if s.bank_id == "cert-old").title == "Bank cert-old"


@pytest.fixture
def gated(session, make_user, sop_dir, catalog, tmp_path):
    """ATO-RECOVERY v1.0 published at T0, with an update bank for 1.0 recorded as its gate."""
    sop_dir.write("ATO-RECOVERY", version="1.0")
    catalog(session, T0)
    quiz_dir = tmp_path / "quizzes"
    bank = make_bank("update-ato-1-0", kind="update", version="1.0", cooldown_hours=0, attempts_per_day=10)
    write_bank(quiz_dir, bank)
    assert gates.record_gate_decisions(session, load_directory(quiz_dir), now=T0, final=True) == 1
    session.commit()
    return bank


@pytest.fixture
def make_agent_user(session, make_user):
    """An agent user who joined before T0, given their assignments of what is published."""
    from kb_app.acks.publishing import sync_assignments

    def make(**fields):
        fields.setdefault("start_date", (T0 - timedelta(days=60)).date())
        user = make_user("agent", **fields)
        sync_assignments(session, now=T0)
        session.commit()
        return user

    return make


def assignment_of(session, user, sop_id="ATO-RECOVERY"):
    from kb_app.models import Requirement

    return session.scalars(
        select(Assignment).join(Requirement).where(Assignment.agent_id == user.agent.id, Requirement.sop_id == sop_id)
    ).one()


def acknowledge(session, user, when, sop_id="ATO-RECOVERY"):
    current = latest_version(session, sop_id)
    result = acks.acknowledge(session, user.agent, sop_id, current.tier_hashes[user.agent.tier], now=when)
    session.commit()
    return result


class TestComprehensionCheckedAcknowledgement:
    def test_an_acknowledgement_counts_only_after_the_update_quiz_is_passed(self, session, make_agent_user, gated):
        user = make_agent_user()
        acked_at = T0 + timedelta(hours=1)
        acknowledge(session, user, acked_at)
        assignment = assignment_of(session, user)
        assert assignment.acknowledged_at is None
        [item] = acks.reading_list(session, user.agent, now=acked_at)
        assert item.quiz_bank_ids == ["update-ato-1-0"] and item.acknowledged_at == acked_at
        banner = acks.banner_for(session, user.agent, "ATO-RECOVERY", now=acked_at)
        assert banner.state == "quiz_required" and banner.quiz_bank_ids == ["update-ato-1-0"]

        take(session, user, gated, T0 + timedelta(hours=2), right=False)
        session.refresh(assignment)
        assert assignment.acknowledged_at is None

        take(session, user, gated, T0 + timedelta(hours=3))
        session.refresh(assignment)
        assert assignment.acknowledged_at == T0 + timedelta(hours=3, minutes=3)  # the later of the two
        assert acks.reading_list(session, user.agent, now=T0 + timedelta(hours=4)) == []
        assert acks.banner_for(session, user.agent, "ATO-RECOVERY", now=T0 + timedelta(hours=4)).state == "acknowledged"

    def test_passing_first_then_acknowledging_counts_from_the_acknowledgement(self, session, make_agent_user, gated):
        user = make_agent_user()
        take(session, user, gated, T0 + timedelta(hours=1))
        assert assignment_of(session, user).acknowledged_at is None  # a quiz is not an acknowledgement
        [item] = acks.reading_list(session, user.agent, now=T0 + timedelta(hours=2))
        assert item.quiz_bank_ids is None
        acknowledge(session, user, T0 + timedelta(hours=5))
        assert assignment_of(session, user).acknowledged_at == T0 + timedelta(hours=5)

    def test_a_tier_1_update_quiz_never_blocks_a_tier_2_agent(self, session, make_agent_user, gated):
        t2 = make_agent_user(tier="T2", vendor="in-house")
        assert gates.pending_quizzes(session, t2.agent) == {}
        acknowledge(session, t2, T0 + timedelta(hours=1))
        assert assignment_of(session, t2).acknowledged_at == T0 + timedelta(hours=1)

    def test_a_tier_2_update_quiz_does_not_gate_tier_1(self, session, make_agent_user, sop_dir, catalog, tmp_path):
        sop_dir.write("ATO-RECOVERY", version="1.0")
        catalog(session, T0)
        quiz_dir = tmp_path / "quizzes"
        write_bank(quiz_dir, make_bank("update-t2", kind="update", tier="T2", version="1.0"))
        gates.record_gate_decisions(session, load_directory(quiz_dir), now=T0, final=True)
        session.commit()
        t1, t2 = make_agent_user(), make_agent_user(tier="T2", vendor="in-house")
        acknowledge(session, t1, T0 + timedelta(hours=1))
        acknowledge(session, t2, T0 + timedelta(hours=1))
        assert assignment_of(session, t1).acknowledged_at == T0 + timedelta(hours=1)
        assert assignment_of(session, t2).acknowledged_at is None

    def test_without_an_update_quiz_an_acknowledgement_counts_at_once(
        self, session, make_agent_user, sop_dir, catalog, tmp_path
    ):
        sop_dir.write("ATO-RECOVERY", version="1.0")
        catalog(session, T0)
        gates.record_gate_decisions(session, load_directory(tmp_path / "none"), now=T0, final=True)
        session.commit()  # the decision is part of this unit of work until committed
        user = make_agent_user()
        acknowledge(session, user, T0 + timedelta(hours=1))
        assert assignment_of(session, user).acknowledged_at == T0 + timedelta(hours=1)

    def test_a_later_edit_of_the_bank_files_does_not_change_who_counts(self, session, make_agent_user, gated, tmp_path):
        # The gating bank is deleted from disk after the decision: the gate stands.
        (tmp_path / "quizzes" / "update-ato-1-0.yml").unlink()
        assert gates.record_gate_decisions(session, load_directory(tmp_path / "quizzes"), now=T0, final=True) == 0
        user = make_agent_user()
        acknowledge(session, user, T0 + timedelta(hours=1))
        assert assignment_of(session, user).acknowledged_at is None
        [decision] = session.scalars(select(UpdateGateDecision)).all()
        assert [g.bank_id for g in decision.gates] == ["update-ato-1-0"] and decision.version == "1.0"

    def test_a_bank_added_after_the_no_quiz_decision_does_not_gate(
        self, session, make_agent_user, sop_dir, catalog, tmp_path
    ):
        sop_dir.write("ATO-RECOVERY", version="1.0")
        catalog(session, T0)
        quiz_dir = tmp_path / "quizzes"
        gates.record_gate_decisions(session, load_directory(quiz_dir), now=T0, final=True)
        write_bank(quiz_dir, make_bank("update-ato-1-0", kind="update", version="1.0"))
        assert gates.record_gate_decisions(session, load_directory(quiz_dir), now=T0, final=True) == 0
        session.commit()
        user = make_agent_user()
        acknowledge(session, user, T0 + timedelta(hours=1))
        assert assignment_of(session, user).acknowledged_at is not None

    def test_no_quiz_is_decided_only_when_final_and_every_bank_file_loaded(self, session, sop_dir, catalog, tmp_path):
        sop_dir.write("ATO-RECOVERY", version="1.0")
        catalog(session, T0)
        quiz_dir = tmp_path / "quizzes"
        quiz_dir.mkdir()
        assert gates.record_gate_decisions(session, load_directory(quiz_dir), now=T0, final=False) == 0
        (quiz_dir / "broken.yml").write_text("id: [unclosed\n", encoding="utf-8")
        assert gates.record_gate_decisions(session, load_directory(quiz_dir), now=T0, final=True) == 0
        assert gates.undecided_versions_exist(session)
        (quiz_dir / "broken.yml").unlink()
        assert gates.record_gate_decisions(session, load_directory(quiz_dir), now=T0, final=True) == 1
        assert not gates.undecided_versions_exist(session)

    def test_gates_match_the_bank_version_exactly(self, session, sop_dir, catalog, tmp_path):
        sop_dir.write("ATO-RECOVERY", version="1.0")
        catalog(session, T0)
        quiz_dir = tmp_path / "quizzes"
        write_bank(quiz_dir, make_bank("update-ato-2-0", kind="update", version="2.0"))
        gates.record_gate_decisions(session, load_directory(quiz_dir), now=T0, final=True)
        version = session.scalars(select(PublishedVersion)).one()
        assert gates.gated_tiers(session, version.id) == set()

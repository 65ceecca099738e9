"""The loop's core on both databases: flags, gaps from every signal, actions and outcomes."""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from improvement.loop_data import acknowledge_assignments, add_agents, add_answers, add_searches
from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_factory
from kb_app.improvement import actions, feedback, gaps, outcomes
from kb_app.improvement.actions import ActionError, ActionInput, GapLink
from kb_app.improvement.feedback import FeedbackError
from kb_app.models import AuditEvent, Requirement, User
from kb_app.models.improvement import ActionEvent, FeedbackFlag, ImprovementAction
from kb_app.sqlfuncs import median

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
V2_BODY = """## Purpose {#purpose}

Use this procedure when a customer reports that someone else took over their account.

## Verify ownership {#verify}

1. Send a code to the sign-up email and read it back.
"""


@pytest.fixture
def world(engine, sop_dir, make_user):
    """ATO-RECOVERY v1.0 (purpose, steps) and a Tier 2-only SOP, published; agents at two sites
    of northwind-bpo and one of apex-cx; a T1 agent login, a trainer and a partner manager."""
    sop_dir.write("ATO-RECOVERY")
    sop_dir.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]})
    agent = make_user("agent", vendor="northwind-bpo", site="manila")
    apex = make_user("agent", vendor="apex-cx", site="cebu")
    trainer = make_user("trainer")
    with session_factory(engine)() as session:
        add_agents(session, 12, site="manila")
        add_agents(session, 12, site="davao")
        session.commit()
        publish(session, load_catalog(sop_dir.root), now=NOW - timedelta(days=20), by="test")
        session.commit()
    return {"agent": agent, "apex": apex, "trainer": trainer, "sop_dir": sop_dir}


def _user(session, user) -> User:
    return session.get(User, user.id)


def test_a_flag_keeps_version_section_tier_vendor_and_site_and_the_comment_as_typed(session, world):
    agent = _user(session, world["agent"])
    flag = feedback.raise_flag(
        session,
        agent,
        sop_id="ATO-RECOVERY",
        anchor="steps",
        kind="missing_step",
        comment="<script>alert(1)</script> step 3 is missing",
        now=NOW,
    )
    session.commit()
    stored = session.get(FeedbackFlag, flag.id)
    assert (stored.sop_id, stored.version, stored.anchor, stored.section_title) == (
        "ATO-RECOVERY",
        "1.0",
        "steps",
        "Steps",
    )
    assert (stored.tier, stored.vendor, stored.site, stored.status) == ("T1", "northwind-bpo", "manila", "open")
    assert stored.comment == "<script>alert(1)</script> step 3 is missing"


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"sop_id": "NOPE"}, 404, "sop_id"),
        ({"sop_id": "T2-INFRA", "anchor": "purpose"}, 404, "sop_id"),  # Tier 2-only: like an unknown SOP
        ({"anchor": "no-such-section"}, 404, "anchor"),
        ({"kind": "rude"}, 422, "kind"),
        ({"comment": "   "}, 422, "comment"),
        ({"comment": "x" * 501}, 422, "comment"),
        ({"comment": "bad \x00 byte"}, 422, "comment"),
        ({"version": "9.9"}, 422, "version"),
    ],
)
def test_bad_flags_are_refused_naming_the_field_and_write_nothing(session, world, fields, status, field):
    agent = _user(session, world["agent"])
    values = {"sop_id": "ATO-RECOVERY", "anchor": "steps", "kind": "unclear", "comment": "which order?", **fields}
    with pytest.raises(FeedbackError) as refused:
        feedback.raise_flag(session, agent, now=NOW, **values)
    assert (refused.value.status, refused.value.field) == (status, field)
    assert session.scalar(select(func.count()).select_from(FeedbackFlag)) == 0


def test_only_agents_flag(session, world):
    with pytest.raises(FeedbackError) as refused:
        feedback.raise_flag(
            session,
            _user(session, world["trainer"]),
            sop_id="ATO-RECOVERY",
            anchor="steps",
            kind="wrong",
            comment="x",
            now=NOW,
        )
    assert refused.value.status == 403


def test_a_removed_section_refuses_new_flags_and_marks_the_old_ones(engine, session, world):
    agent = _user(session, world["agent"])
    old = feedback.raise_flag(
        session, agent, sop_id="ATO-RECOVERY", anchor="steps", kind="wrong", comment="old", now=NOW
    )
    session.commit()
    world["sop_dir"].write("ATO-RECOVERY", body=V2_BODY, version="2.0")
    publish(session, load_catalog(world["sop_dir"].root), now=NOW + timedelta(hours=1), by="test")
    session.commit()
    with pytest.raises(FeedbackError) as refused:
        feedback.raise_flag(
            session,
            agent,
            sop_id="ATO-RECOVERY",
            anchor="steps",
            version="1.0",
            kind="wrong",
            comment="still wrong",
            now=NOW + timedelta(hours=2),
        )
    assert (refused.value.status, refused.value.code) == (409, "section_removed")
    # The page of v1.0 still open on a section v2.0 kept: stored against v1.0.
    kept = feedback.raise_flag(
        session,
        agent,
        sop_id="ATO-RECOVERY",
        anchor="purpose",
        version="1.0",
        kind="unclear",
        comment="hm",
        now=NOW + timedelta(hours=2),
    )
    assert kept.version == "1.0"
    views = {v.flag.id: v for v in feedback.list_flags(session)}
    assert views[old.id].removed is True and views[old.id].current_version == "2.0"
    assert views[kept.id].removed is False


def test_partner_managers_see_their_vendor_only_and_triage_reaches_the_agent(session, world):
    nw = feedback.raise_flag(
        session,
        _user(session, world["agent"]),
        sop_id="ATO-RECOVERY",
        anchor="steps",
        kind="unclear",
        comment="nw",
        now=NOW,
    )
    ax = feedback.raise_flag(
        session,
        _user(session, world["apex"]),
        sop_id="ATO-RECOVERY",
        anchor="steps",
        kind="unclear",
        comment="ax",
        now=NOW,
    )
    session.commit()
    assert [v.flag.id for v in feedback.list_flags(session, vendor="northwind-bpo")] == [nw.id]
    with pytest.raises(FeedbackError):
        feedback.flag_for(session, ax.id, vendor="northwind-bpo")
    trainer = _user(session, world["trainer"])
    with pytest.raises(FeedbackError) as refused:
        feedback.triage(session, trainer, nw.id, decision="answer", answer="", now=NOW)
    assert refused.value.field == "answer"
    feedback.triage(session, trainer, nw.id, decision="answer", answer="Step 2 comes first.", now=NOW)
    session.commit()
    [mine] = feedback.my_flags(session, _user(session, world["agent"]))
    assert (mine.flag.status, mine.flag.answer) == ("answered", "Step 2 comes first.")
    assert session.scalar(select(func.count()).where(AuditEvent.action == "feedback.triage")) == 1


def _action_input(**overrides) -> ActionInput:
    values = {
        "title": "Reorder the steps",
        "owner_email": "owner@example.com",
        "team": "Training",
        "due_date": date(2026, 11, 20),
        "action_type": "sop",
        "sections": ("ATO-RECOVERY#steps",),
    }
    values.update(overrides)
    return ActionInput(**values)


def test_accepting_a_flag_into_another_vendors_action_is_refused(session, world):
    ax = feedback.raise_flag(
        session,
        _user(session, world["apex"]),
        sop_id="ATO-RECOVERY",
        anchor="steps",
        kind="wrong",
        comment="ax",
        now=NOW,
    )
    action = actions.create_action(session, _action_input(vendor="northwind-bpo"), actor="t@example.com", now=NOW)
    session.commit()
    with pytest.raises(FeedbackError) as refused:
        feedback.triage(
            session, _user(session, world["trainer"]), ax.id, decision="accept", action_id=action.id, now=NOW
        )
    assert refused.value.code == "other_vendor"
    with pytest.raises(ActionError) as refused_action:
        actions.create_action(session, _action_input(vendor="northwind-bpo", flag_ids=(ax.id,)), actor="t", now=NOW)
    assert refused_action.value.code == "other_vendor"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"owner_email": "not-an-address"}, "owner_email"),
        ({"due_date": None}, "due_date"),
        ({"action_type": "magic"}, "action_type"),
        ({"sections": ("ATO-RECOVERY#steps", "NOPE#x")}, "sections"),
        ({"sections": ("ATO-RECOVERY#gone",)}, "sections"),
        ({"sections": ("<b>",)}, "sections"),
        ({"flag_ids": (999999,)}, "flag_ids"),
        ({"vendor": "no-such-vendor"}, "vendor"),
    ],
)
def test_a_bad_action_is_refused_whole(session, world, fields, field):
    with pytest.raises(ActionError) as refused:
        actions.create_action(session, _action_input(**fields), actor="t", now=NOW)
    assert refused.value.field == field
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ImprovementAction)) == 0


def test_status_history_is_kept_and_audited_and_overdue_stands_out(session, world):
    action = actions.create_action(session, _action_input(due_date=date(2026, 11, 1)), actor="t", now=NOW)
    actions.set_status(session, action, "in_progress", actor="t", note="started", now=NOW)
    with pytest.raises(ActionError) as refused:
        actions.set_status(session, action, "in_progress", actor="t", now=NOW)
    assert refused.value.status == 409
    session.commit()
    assert [(e.from_status, e.to_status) for e in action.events] == [(None, "open"), ("open", "in_progress")]
    assert actions.is_overdue(action, NOW.date())
    [row] = actions.export_rows(session, today=NOW.date())
    assert (row["status"], row["overdue"], row["sections"]) == ("in_progress", "yes", "ATO-RECOVERY#steps")
    assert session.scalar(select(func.count()).where(AuditEvent.action.like("action.%"))) == 2
    due = actions.actions_due(session, NOW + timedelta(days=30), today=NOW.date())
    assert [(d.id, d.overdue) for d in due] == [(action.id, True)]
    actions.set_status(session, action, "done", actor="t", now=NOW)
    assert actions.actions_due(session, NOW + timedelta(days=30)) == []
    assert session.scalar(select(func.count()).select_from(ActionEvent)) == 3


def test_median_matches_statistics_median_on_both_databases(session, world):
    from kb_app.models.acks import Assignment

    requirement = session.scalars(select(Requirement).where(Requirement.sop_id == "ATO-RECOVERY")).one()
    hours = {"manila": 2.0, "davao": 30.0}
    acknowledge_assignments(session, requirement, hours)
    values = session.scalars(
        select(Assignment.seconds_to_ack).where(
            Assignment.requirement_id == requirement.id, Assignment.seconds_to_ack.is_not(None)
        )
    ).all()
    got = session.scalar(select(median(Assignment.seconds_to_ack)).where(Assignment.requirement_id == requirement.id))
    assert got == pytest.approx(statistics.median(values))


def _matcher(query: str):
    return ("ATO-RECOVERY", "steps") if "recover" in query else None


def test_gaps_rank_sections_from_every_signal_with_evidence_kind_and_link(engine, session, world):
    agents = list(session.scalars(select(User).where(User.role == "agent")))
    assert agents
    from kb_app.models import Agent

    roster = list(session.scalars(select(Agent).where(Agent.vendor == "northwind-bpo")))
    at = NOW - timedelta(days=3)
    add_searches(session, "recover hacked account", 6, at=at)  # mapped by the matcher
    add_searches(session, "crypto wallet drained", 4, at=at)  # found nowhere
    add_searches(session, "old search", 5, at=NOW - timedelta(days=60))  # outside the window
    # A hard question that discriminates (training) on #steps; a question that does not (quality) on #purpose.
    add_answers(
        session,
        roster,
        bank_id="ato-cert",
        source="ATO-RECOVERY#steps",
        question_id="q-hard",
        at=at,
        right=[True] * 4 + [False] * 12,
    )
    add_answers(
        session,
        roster,
        bank_id="ato-cert",
        source="ATO-RECOVERY#purpose",
        question_id="q-noise",
        at=at,
        right=[True, False] * 8,
        other_points=[3, 3, 1, 1] * 4,
    )
    feedback.raise_flag(
        session,
        _user(session, world["agent"]),
        sop_id="ATO-RECOVERY",
        anchor="steps",
        kind="wrong",
        comment="x",
        now=at,
    )
    requirement = session.scalars(select(Requirement).where(Requirement.sop_id == "ATO-RECOVERY")).one()
    acknowledge_assignments(session, requirement, {"manila": 2.0, "davao": 48.0})
    session.commit()
    sops = list(load_catalog(world["sop_dir"].root).sops.values())
    found = gaps.find_gaps(session, gaps.GapQuery(since=NOW - timedelta(days=28), now=NOW), matcher=_matcher, sops=sops)
    by_key = {g.key: g for g in found}
    steps = by_key["ATO-RECOVERY#steps"]
    signals = {e.signal for e in steps.evidence}
    assert signals == {"search_zero_mapped", "item_hard", "feedback"}
    assert steps.link == "/sop/procedures/ato-recovery/#steps" and steps.section == "Steps"
    assert {e.signal for e in by_key["ATO-RECOVERY#purpose"].evidence} == {"item_quality"}
    assert by_key["ATO-RECOVERY#purpose"].kind == "quality"
    assert by_key["search:crypto wallet drained"].kind == "sop"
    whole = by_key["ATO-RECOVERY#"]
    assert "ack_lag" in {e.signal for e in whole.evidence} and whole.kind == "tooling"
    assert "search:old search" not in by_key
    assert found == sorted(found, key=lambda g: (-g.score, g.key))
    for gap in found:
        assert gap.rule and gap.kind in gaps.KINDS
    # Another vendor's view has none of northwind's signals; Tier 1 readers never see T2-only SOPs.
    assert gaps.find_gaps(session, gaps.GapQuery(since=NOW - timedelta(days=28), now=NOW, vendor="apex-cx")) == []
    # An action on a gap takes it out of the new gaps.
    action = actions.create_action(
        session, _action_input(gaps=(GapLink(steps.key, tuple(steps.queries)),)), actor="t", now=NOW
    )
    session.commit()
    fresh = gaps.new_gaps(session, NOW - timedelta(days=28), now=NOW, matcher=_matcher)
    assert steps.key not in {g.key for g in fresh}
    assert action.gaps[0].queries == "recover hacked account"


def test_overdue_clusters_and_past_review_dates_are_gaps(engine, session, world):
    requirement = session.scalars(select(Requirement).where(Requirement.sop_id == "ATO-RECOVERY")).one()
    acknowledge_assignments(session, requirement, {"manila": 1.0})  # davao: none, and overdue at NOW
    session.commit()
    world["sop_dir"].write("OLD-SOP", review_by="2026-01-01")
    sops = list(load_catalog(world["sop_dir"].root).sops.values())
    found = {
        g.key: g for g in gaps.find_gaps(session, gaps.GapQuery(since=NOW - timedelta(days=28), now=NOW), sops=sops)
    }
    overdue = [e for e in found["ATO-RECOVERY#"].evidence if e.signal == "overdue"]
    assert any("site davao" in e.summary for e in overdue) and overdue[0].kind == "training"
    assert [e.signal for e in found["OLD-SOP#"].evidence] == ["review"]


def test_outcomes_wait_for_the_fix_and_say_when_the_sample_is_too_small(engine, session, world):
    from kb_app.models import Agent

    roster = list(session.scalars(select(Agent).where(Agent.vendor == "northwind-bpo")))
    opened = NOW
    action = actions.create_action(
        session,
        _action_input(sections=("ATO-RECOVERY#purpose",), gaps=(GapLink("search:x", ("recover hacked account",)),)),
        actor="t",
        now=opened,
    )
    session.commit()
    assert outcomes.outcome(session, action, now=opened).state == "waiting"
    actions.set_status(session, action, "done", actor="t", now=opened + timedelta(days=1))
    session.commit()
    waiting = outcomes.outcome(session, action, now=opened + timedelta(days=1))
    assert waiting.state == "waiting" and "ATO-RECOVERY" in waiting.reason
    fixed_at = opened + timedelta(days=2)
    # Before the fix: 20 answers at facility 0.25 and 20 searches, half with nothing found.
    add_answers(
        session,
        roster,
        bank_id="ato-cert",
        source="ATO-RECOVERY#purpose",
        question_id="q1",
        at=fixed_at - timedelta(days=1),
        right=[True] * 5 + [False] * 15,
    )
    add_searches(session, "recover hacked account", 10, at=fixed_at - timedelta(days=1), result_count=0)
    add_searches(session, "recover hacked account", 10, at=fixed_at - timedelta(days=1), result_count=3)
    world["sop_dir"].write("ATO-RECOVERY", body=V2_BODY.replace("Verify ownership", "Prove ownership"), version="2.0")
    publish(session, load_catalog(world["sop_dir"].root), now=fixed_at, by="test")
    # After: 20 answers at facility 0.75; 3 searches only.
    add_answers(
        session,
        roster,
        bank_id="ato-cert",
        source="ATO-RECOVERY#purpose",
        question_id="q1",
        at=fixed_at + timedelta(hours=5),
        right=[True] * 15 + [False] * 5,
    )
    add_searches(session, "recover hacked account", 3, at=fixed_at + timedelta(hours=5), result_count=2)
    session.commit()
    result = outcomes.outcome(session, action, now=fixed_at + timedelta(days=3))
    assert result.state == "measured" and result.fixes[0][:2] == ("ATO-RECOVERY", "2.0")
    assert result.after[0] - result.before[0] == result.after[1] - result.after[0] == timedelta(days=3)
    measures = {m.name: m for m in result.measures}
    facility = measures["Facility of the linked questions"]
    assert (facility.before, facility.after, facility.n_before, facility.n_after) == (0.25, 0.75, 20, 20)
    assert facility.note == "better"
    zero = measures["Zero-result rate of the related queries"]
    assert (zero.before, zero.after, zero.n_after) == (50.0, 0.0, 3)
    assert zero.note == "n=3, too few to compare" and not zero.comparable
    assert measures["Feedback flags on the sections"].note.endswith("too few to compare")
    [recent] = outcomes.recent_outcomes(session, opened, now=fixed_at + timedelta(days=3))
    assert recent.action_id == action.id and recent.state == "measured"

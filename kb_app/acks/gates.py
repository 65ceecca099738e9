"""When an update quiz must be passed before an acknowledgement counts.

**Comprehension-checked acknowledgement.** An update bank (`kind: update, sops: [X],
version: "3.0"`) gates the acknowledgement of X v3.0: the agent may acknowledge at once, but the
requirement counts as covered (the assignment's `acknowledged_at`) only once the agent has also
passed the quiz, at the later of the two times. `mark_covered_assignments` applies that rule; it
is called after an acknowledgement and after a passed update quiz.

Which banks gate which published version is recorded in the database the first time it matters
(`record_gate_decisions`), so a later edit of the bank files does not change who counts.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, Update, bindparam, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb_app.models import Acknowledgement, Agent, Assignment, PublishedVersion, Requirement
from kb_app.models.acks import seconds_between_times
from kb_app.models.quizzes import QuizAttempt, UpdateGate, UpdateGateDecision
from kb_app.quizzes.attempts import may_take, snapshot_for
from kb_app.quizzes.schema import Bank
from kb_app.sqlfuncs import whole_seconds_between
from kb_app.versions import acknowledged_at_least, at_least


def undecided_versions_exist(session: Session) -> bool:
    decided = select(UpdateGateDecision.version_id).where(UpdateGateDecision.version_id == PublishedVersion.id)
    return bool(session.scalar(select(exists().where(~exists(decided)).select_from(PublishedVersion))))


def record_gate_decisions(session: Session, loaded, *, now: datetime, final: bool) -> int:
    """Record, for each published version not yet decided, which update banks gate it.

    `loaded` is a `kb_app.quizzes.library.LoadedBanks`. A version with a matching update bank is
    recorded at once. One without is recorded as ungated only when `final` (an acknowledgement
    is about to be counted) and every bank file loaded: a broken bank file must not switch a
    quiz off for good. Returns the number of decisions recorded.
    """
    decided = select(UpdateGateDecision.version_id)
    pending = session.execute(
        select(PublishedVersion.id, PublishedVersion.sop_id, PublishedVersion.version).where(
            PublishedVersion.id.not_in(decided)
        )
    ).all()
    recorded = 0
    for version_id, sop_id, version in pending:
        banks = loaded.update_banks_for(sop_id, version)
        if not banks and not (final and loaded.complete):
            continue
        try:
            with session.begin_nested():
                decision = UpdateGateDecision(version_id=version_id, sop_id=sop_id, version=version, decided_at=now)
                for bank in banks:
                    snapshot = snapshot_for(session, bank, now=now, content_hash=loaded.hashes.get(bank.id))
                    decision.gates.append(UpdateGate(bank_id=bank.id, bank_hash=snapshot.bank_hash, tier=bank.tier))
                session.add(decision)
        except IntegrityError:  # another worker decided it first; theirs stands
            continue
        recorded += 1
    return recorded


@dataclass(frozen=True)
class GateFacts:
    """What an acknowledgement needs to know of update gates, read in two queries per release.

    `settled`: every published version has its gate decision. Decisions are final and are only
    ever added for new versions, so this and `gated` hold until the next publish.
    `gated`: (SOP id, tier) pairs where an update quiz gates some version of the SOP for that tier.
    """

    settled: bool
    gated: frozenset[tuple[str, str]]

    def gates(self, sop_id: str, tier: str) -> bool:
        return (sop_id, tier) in self.gated


def gate_facts(session: Session) -> GateFacts:
    rows = session.execute(
        select(UpdateGate, PublishedVersion.sop_id).join(PublishedVersion, PublishedVersion.id == UpdateGate.version_id)
    ).all()
    gated = {(sop_id, tier) for gate, sop_id in rows for tier in ("T1", "T2") if may_take(gate, tier)}
    return GateFacts(not undecided_versions_exist(session), frozenset(gated))


def gates_for_tier(gates: Iterable[UpdateGate], tier: str) -> list[UpdateGate]:
    """The gates that apply to an agent of `tier`: an update bank gates only the tier it is
    written for (a Tier 1 bank never blocks a Tier 2 agent's acknowledgement)."""
    return [g for g in gates if may_take(g, tier)]


def _gates_by_version(session: Session, version_ids: Iterable[int]) -> dict[int, list[UpdateGate]]:
    ids = list(set(version_ids))
    if not ids:
        return {}
    result: dict[int, list[UpdateGate]] = {}
    for gate in session.scalars(select(UpdateGate).where(UpdateGate.version_id.in_(ids))):
        result.setdefault(gate.version_id, []).append(gate)
    return result


def gated_tiers(session: Session, version_id: int) -> set[str]:
    tiers = set()
    for gate in session.scalars(select(UpdateGate).where(UpdateGate.version_id == version_id)):
        tiers |= {tier for tier in ("T1", "T2") if gates_for_tier([gate], tier)}
    return tiers


def first_passes(session: Session, agent_id: int, bank_ids: Iterable[str]) -> dict[str, datetime]:
    ids = list(set(bank_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(QuizAttempt.bank_id, func.min(QuizAttempt.submitted_at))
        .where(QuizAttempt.agent_id == agent_id, QuizAttempt.bank_id.in_(ids), QuizAttempt.passed.is_(True))
        .group_by(QuizAttempt.bank_id)
    ).all()
    return dict(rows)


@dataclass
class PendingQuiz:
    """An acknowledgement that does not count yet: the agent must pass one of `bank_ids`."""

    sop_id: str
    version: str
    bank_ids: list[str]
    acknowledged_at: datetime | None
    due_at: datetime


def _uncovered(session: Session, agent_id: int, sop_id: str | None = None):
    query = (
        select(Assignment, Requirement)
        .join(Requirement, Requirement.id == Assignment.requirement_id)
        .where(Assignment.agent_id == agent_id, Assignment.acknowledged_at.is_(None))
    )
    if sop_id is not None:
        query = query.where(Requirement.sop_id == sop_id)
    return session.execute(query).all()


def _first_ack(session: Session, agent_id: int, requirement: Requirement) -> Acknowledgement | None:
    return session.scalars(
        select(Acknowledgement)
        .where(
            Acknowledgement.agent_id == agent_id,
            acknowledged_at_least(requirement.sop_id, requirement.major, requirement.minor),
        )
        .order_by(Acknowledgement.acknowledged_at, Acknowledgement.id)
        .limit(1)
    ).first()


def mark_covered_assignments(session: Session, agent_id: int, sop_id: str, *, tier: str | None = None) -> int:
    """Cover the agent's uncovered assignments of `sop_id` that are now satisfied.

    Satisfied: an acknowledgement of the required version (or later) exists and, when an update
    quiz the agent's tier takes gates the required version, the agent has passed it. The
    assignment's `acknowledged_at` is the later of the acknowledgement and the pass.
    Returns the number of assignments covered. `tier`: the agent's, when the caller has it.
    """
    rows = _uncovered(session, agent_id, sop_id)
    if not rows:
        return 0
    if tier is None:
        tier = session.scalar(select(Agent.tier).where(Agent.id == agent_id))
    gates = _gates_by_version(session, (r.version_id for _, r in rows))
    passes = first_passes(session, agent_id, (g.bank_id for gs in gates.values() for g in gs))
    covered = 0
    for assignment, requirement in rows:
        ack = _first_ack(session, agent_id, requirement)
        if ack is None:
            continue
        at = ack.acknowledged_at
        applicable = gates_for_tier(gates.get(requirement.version_id, []), tier)
        if applicable:
            passed = [passes[g.bank_id] for g in applicable if g.bank_id in passes]
            if not passed:
                continue
            at = max(at, min(passed))
        session.execute(
            update(Assignment)
            .where(Assignment.id == assignment.id, Assignment.acknowledged_at.is_(None))
            .values(
                acknowledged_at=at,
                acknowledgement_id=ack.id,
                seconds_to_ack=seconds_between_times(assignment.assigned_at, at),
            )
        )
        covered += 1
    return covered


def cover_ungated_assignments(session: Session, ack: Acknowledgement, tier: str) -> int:
    """Cover, in one statement, the agent's uncovered assignments that `ack` satisfies, for an SOP
    that no update quiz gates for the agent's tier (`GateFacts.gates` is false).

    The result is `mark_covered_assignments`'s: an uncovered, ungated assignment has no earlier
    satisfying acknowledgement (one made before the assignment was created covers it then:
    `kb_app.acks.publishing`), so its first one is `ack`. The statement is built once per process
    and sent on the session's connection (it is every acknowledgement's second statement).
    """
    result = session.connection().execute(
        _cover_ungated_statement(),
        {
            "p_agent_id": ack.agent_id,
            "p_sop_id": ack.sop_id,
            "p_major": ack.major,
            "p_minor": ack.minor,
            "p_tier": tier,
            "p_acknowledged_at": ack.acknowledged_at,
            "p_ack_id": ack.id,
        },
    )
    return result.rowcount


@functools.cache
def _cover_ungated_statement() -> Update:
    return cover_ungated_update(bindparam("p_ack_id", type_=Integer()))


def cover_ungated_update(ack_id: Any) -> Update:
    """`cover_ungated_assignments`'s UPDATE, covering with the acknowledgement `ack_id` (a
    parameter, or the id a statement it is part of inserts: `acknowledge_known` on PostgreSQL)."""
    # Gates are checked again here: a requirement an update quiz gates for `tier` is never covered
    # by this statement, whatever the caller believed (`mark_covered_assignments` and the quiz
    # pass decide those).
    gate = select(UpdateGate.id).where(
        UpdateGate.version_id == Requirement.version_id, UpdateGate.tier == bindparam("p_tier", type_=String())
    )
    satisfied = select(Requirement.id).where(
        Requirement.sop_id == bindparam("p_sop_id", type_=String()),
        at_least(
            bindparam("p_major", type_=Integer()),
            bindparam("p_minor", type_=Integer()),
            Requirement.major,
            Requirement.minor,
        ),
        ~exists(gate),
    )
    at = bindparam("p_acknowledged_at", type_=Assignment.assigned_at.type)
    return (
        update(Assignment.__table__)
        .where(
            Assignment.agent_id == bindparam("p_agent_id", type_=Integer()),
            Assignment.acknowledged_at.is_(None),
            Assignment.requirement_id.in_(satisfied.scalar_subquery()),
        )
        .values(
            acknowledged_at=at,
            acknowledgement_id=ack_id,
            seconds_to_ack=whole_seconds_between(at, Assignment.assigned_at),
        )
    )


def pending_quizzes(session: Session, agent: Agent, sop_id: str | None = None) -> dict[str, PendingQuiz]:
    """SOP id -> the update quiz standing between the agent's acknowledgement (made or still to
    make) and coverage, for open uncovered assignments with a gate for the agent's tier."""
    rows = [(a, r) for a, r in _uncovered(session, agent.id, sop_id) if r.closed_at is None]
    gates = _gates_by_version(session, (r.version_id for _, r in rows))
    if not gates:
        return {}
    passes = first_passes(session, agent.id, (g.bank_id for gs in gates.values() for g in gs))
    result: dict[str, PendingQuiz] = {}
    for assignment, requirement in rows:
        applicable = gates_for_tier(gates.get(requirement.version_id, []), agent.tier)
        if not applicable or any(g.bank_id in passes for g in applicable):
            continue
        ack = _first_ack(session, agent.id, requirement)
        result[requirement.sop_id] = PendingQuiz(
            sop_id=requirement.sop_id,
            version=requirement.version.version,
            bank_ids=sorted(g.bank_id for g in applicable),
            acknowledged_at=ack.acknowledged_at if ack else None,
            due_at=assignment.due_at,
        )
    return result


def gate_decisions(session: Session) -> list[UpdateGateDecision]:
    return list(
        session.scalars(select(UpdateGateDecision).order_by(UpdateGateDecision.sop_id, UpdateGateDecision.version_id))
    )


def on_update_quiz_passed(session: Session, agent_id: int, bank: Bank) -> int:
    """A passed update quiz may complete acknowledgements made before it: cover them now."""
    if bank.kind != "update":
        return 0
    return sum(mark_covered_assignments(session, agent_id, sop_id) for sop_id in bank.sops)

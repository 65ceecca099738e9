"""The agent's side of a change, with update-quiz gates decided before anything is shown or counted.

Which update banks gate a published version is recorded the first time it matters
(`kb_app.acks.gates.record_gate_decisions`): a view may record a gate that a bank file names, and
only a counting action (an acknowledgement, a quiz submission) may record "no gate". Every entry
point that shows or counts acknowledgements goes through here, so no route can forget it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from kb_app.acks import acknowledge as core
from kb_app.acks.gates import record_gate_decisions, undecided_versions_exist
from kb_app.models import Agent
from kb_app.quizzes.library import LoadedBanks


def decide_gates(session: Session, banks: LoadedBanks, *, now: datetime, counting: bool) -> int:
    """Record pending gate decisions (one cheap query when there are none)."""
    if not undecided_versions_exist(session):
        return 0
    return record_gate_decisions(session, banks, now=now, final=counting)


def acknowledge_change(
    session: Session,
    agent: Agent,
    sop_id: str,
    content_hash: str,
    banks: LoadedBanks,
    *,
    version: str | None,
    now: datetime,
    channel: str,
    language: str | None = None,
) -> core.AckResult:
    decide_gates(session, banks, now=now, counting=True)
    return core.acknowledge(
        session, agent, sop_id, content_hash, version=version, now=now, channel=channel, language=language
    )


def reading_list(session: Session, agent: Agent, banks: LoadedBanks, *, now: datetime) -> list[core.ReadingItem]:
    decide_gates(session, banks, now=now, counting=False)
    return core.reading_list(session, agent, now=now)


def banner(session: Session, agent: Agent, sop_id: str, banks: LoadedBanks, *, now: datetime) -> core.Banner | None:
    decide_gates(session, banks, now=now, counting=False)
    return core.banner_for(session, agent, sop_id, now=now)


def what_changed(
    session: Session, agent: Agent, sop_id: str, banks: LoadedBanks, *, now: datetime, language: str | None = None
) -> core.WhatChanged:
    decide_gates(session, banks, now=now, counting=False)
    return core.what_changed(session, agent, sop_id, language)

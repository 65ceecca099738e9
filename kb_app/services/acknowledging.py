"""The agent's side of a change, with update-quiz gates decided before anything is shown or counted.

Which update banks gate a published version is recorded the first time it matters
(`kb_app.acks.gates.record_gate_decisions`): a view may record a gate that a bank file names, and
only a counting action (an acknowledgement, a quiz submission) may record "no gate". Every entry
point that shows or counts acknowledgements goes through here, so no route can forget it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from kb_app import releases, shared_state, versions
from kb_app.acks import acknowledge as core
from kb_app.acks.gates import GateFacts, gate_facts, record_gate_decisions, undecided_versions_exist
from kb_app.catalog.languages import SOURCE_LANGUAGE
from kb_app.acks.standing import (
    AgentStanding,
    ReleaseView,
    ReviewFacts,
    VersionFacts,
    agent_standing,
    agent_standings,
)
from kb_app.models import Agent
from kb_app.models.quizzes import RemediationTask, UpdateGate
from kb_app.quizzes import remediation
from kb_app.quizzes.library import LoadedBanks

# The banks, or how to read them: the hot paths read them only when a gate may need deciding.
BanksSource = LoadedBanks | Callable[[], LoadedBanks]

# The newest ReleaseView read in this process, per database namespace: (release stamp, view).
_views: dict[str, tuple[tuple[int, int], ReleaseView]] = {}
# Likewise the update-gate facts, once every version of that release is decided (final until
# the next release: decisions are only added, for new versions).
_gates: dict[str, tuple[tuple[int, int], GateFacts]] = {}
# What a view last found to decide: (release, None) once every version of the release is
# decided, (release, banks) when those bank files had no gate to record for it.
_decided: dict[str, tuple[tuple[int, int], LoadedBanks | None]] = {}


def decide_gates(session: Session, banks: BanksSource, *, now: datetime, counting: bool) -> int:
    """Record pending gate decisions (one cheap query when there are none)."""
    if not undecided_versions_exist(session):
        return 0
    return record_gate_decisions(session, banks() if callable(banks) else banks, now=now, final=counting)


def _decide_gates_once(session: Session, banks: BanksSource, release_id: tuple[int, int], *, now: datetime) -> int:
    """`decide_gates` for a view, asked again in this process only when the release or the bank
    files change: once every version is decided, or these banks had nothing to record for this
    release, asking again would find the same (decisions are final; a view records only gates
    a bank names; only a new release adds versions to decide)."""
    state = shared_state.for_session(session)
    known = _decided.get(state.ns)
    if known is not None and known[0] == release_id and known[1] is None:
        return 0
    loaded = banks() if callable(banks) else banks
    if known is not None and known[0] == release_id and known[1] is loaded:
        return 0
    if not undecided_versions_exist(session):
        _decided[state.ns] = (release_id, None)
        return 0
    recorded = record_gate_decisions(session, loaded, now=now, final=False)
    if not recorded:
        _decided[state.ns] = (release_id, loaded)
    return recorded


def release_view(session: Session) -> tuple[tuple[int, int], ReleaseView]:
    """What every agent shares, read again only when a new release was recorded (one cheap query
    to know that, at most once a second per process: `releases.recent_release_stamp`)."""
    state = shared_state.for_session(session)
    stamp = releases.recent_release_stamp(session)
    known = _views.get(state.ns)
    if known is not None and known[0] == stamp:
        return known
    view = (stamp, ReleaseView.load(session))
    _views[state.ns] = view
    return view


def standing(
    session: Session,
    agent: Agent,
    banks: BanksSource,
    *,
    now: datetime,
    release: tuple[tuple[int, int], ReleaseView] | None = None,
) -> tuple[ReleaseView, AgentStanding]:
    """The agent's standing, from the shared cache when it is there (kept up to `cache_seconds`;
    it stops counting when the agent acknowledges or passes a quiz, at every publish, roster
    import and recorded update gate: `SharedState.agent_state`)."""
    state = shared_state.for_session(session)
    release_id, view = release or release_view(session)
    cached, epoch = state.agent_state(agent.id, release_id)
    if cached is not None:
        return view, AgentStanding.from_dict(cached)
    if _decide_gates_once(session, banks, release_id, now=now):
        # Recorded the first time it matters, as the gate rules say: keep it, or every later
        # view would record it again (and roll it back again).
        session.commit()
    found = agent_standing(session, agent)
    if state.cache_seconds:
        state.keep_agent_state(agent.id, release_id, found.to_dict(), epoch)
    return view, found


WARM_BATCH = 1000


def warm_standings(session: Session, banks: BanksSource, *, now: datetime) -> int:
    """Compute every active agent's standing ahead and keep it in the shared cache, so that the
    banners and reading lists right after a publish (a crisis bulletin: every agent reloads at
    once) are cache hits. `WARM_BATCH` agents per 2 (+2) queries and one Redis round trip.
    Returns the number of agents; 0 when the shared state is not Redis (another process could
    not read it) or the cache is off. Gate decisions it makes are committed, as a view's are."""
    state = shared_state.for_session(session)
    if state.backend.kind != "redis" or not state.cache_seconds:
        return 0
    if decide_gates(session, banks, now=now, counting=False):
        session.commit()
    releases.forget_release_stamps()
    release_id, _view = release_view(session)
    ids = list(session.scalars(select(Agent.id).where(Agent.active.is_(True)).order_by(Agent.id)))
    for start in range(0, len(ids), WARM_BATCH):
        chunk = ids[start : start + WARM_BATCH]
        # Epochs first: an acknowledgement committed while this batch is read moves its agent's
        # epoch on, and the standing kept here under the older epoch is then never believed.
        epochs = dict(zip(chunk, state.agent_epochs(chunk), strict=True))
        agents = list(session.scalars(select(Agent).where(Agent.id.in_(chunk))))
        found = agent_standings(session, agents)
        state.keep_agent_states({a: (f.to_dict(), epochs[a]) for a, f in found.items()}, release_id)
    return len(ids)


@event.listens_for(Session, "after_flush")
def _gates_end_kept_standings(session: Session, _context: object) -> None:
    """A recorded update gate changes what every agent with that version open must do."""
    if any(isinstance(obj, UpdateGate) for obj in session.new):
        state = shared_state.for_session(session)
        shared_state.after_commit(session, state.new_generation)


def forget_agent_on_commit(session: Session, agent_id: int) -> None:
    """Once the transaction commits, the agent's cached standing and coverage are stale."""
    state = shared_state.for_session(session)
    shared_state.after_commit(session, lambda: state.forget_agent(agent_id))


def forget_releases() -> None:
    """Forget the release views and gate facts this process keeps (a test's fresh database can
    have the stamp of the one before it)."""
    _views.clear()
    _gates.clear()
    _decided.clear()
    releases.forget_release_stamps()
    versions.forget_kept_rows()


def settled_gates(session: Session, release_id: tuple[int, int]) -> GateFacts:
    """The gate facts of this release: two queries until every version is decided, then none."""
    state = shared_state.for_session(session)
    known = _gates.get(state.ns)
    if known is not None and known[0] == release_id:
        return known[1]
    facts = gate_facts(session)
    if facts.settled:
        _gates[state.ns] = (release_id, facts)
    return facts


def acknowledge_change(
    session: Session,
    agent: Agent,
    sop_id: str,
    content_hash: str,
    banks: BanksSource,
    *,
    version: str | None,
    now: datetime,
    channel: str,
    language: str | None = None,
) -> core.AckResult:
    result = None
    if language in (None, SOURCE_LANGUAGE):
        # The common case, the source text of the version this process knows: two statements (one on PostgreSQL).
        release_id, view = release_view(session)
        facts = view.latest.get(sop_id)
        gates = settled_gates(session, release_id)
        if facts is not None and gates.settled:
            known = core.KnownVersion(facts, gates.gates(sop_id, agent.tier))
            result = core.acknowledge_known(
                session, agent, known, content_hash, now=now, version=version, channel=channel
            )
    if result is None:
        decide_gates(session, banks, now=now, counting=True)
        result = core.acknowledge(
            session, agent, sop_id, content_hash, version=version, now=now, channel=channel, language=language
        )
    if result.created:
        forget_agent_on_commit(session, agent.id)
    return result


def reading_list(session: Session, agent: Agent, banks: BanksSource, *, now: datetime) -> list[core.ReadingItem]:
    """The SOP changes on the reading list (without its quiz-review tasks: `reading`)."""
    return reading(session, agent, banks, now=now).items


@dataclass
class Reading:
    """The whole reading list: SOP changes to acknowledge and reading tasks after a failed quiz."""

    items: list[core.ReadingItem]
    reviews: list[ReviewFacts]


def reading(session: Session, agent: Agent, banks: BanksSource, *, now: datetime) -> Reading:
    """The reading list with its quiz-review tasks, from one (usually cached) standing."""
    view, found = standing(session, agent, banks, now=now)
    return Reading(core.reading_items(view, found, now=now), found.reviews)


def mark_section_read(
    session: Session, agent: Agent, task_id: int, section_id: int, *, now: datetime
) -> RemediationTask:
    """Record that the agent re-read a section of a quiz-review task; once this commits the
    agent's kept reading list shows it."""
    task = remediation.mark_read(session, agent, task_id, section_id, now=now)
    forget_agent_on_commit(session, agent.id)
    return task


def banner(session: Session, agent: Agent, sop_id: str, banks: BanksSource, *, now: datetime) -> core.Banner | None:
    view, found = standing(session, agent, banks, now=now)
    return core.banner_from(view, found, sop_id, now=now)


def what_changed(
    session: Session, agent: Agent, sop_id: str, banks: BanksSource, *, now: datetime, language: str | None = None
) -> core.WhatChanged:
    if _decide_gates_once(session, banks, release_view(session)[0], now=now):
        session.commit()  # as a standing's view does: recorded the first time it matters
    return core.what_changed(session, agent, sop_id, language)


@dataclass
class PageBanner:
    """What an SOP page's announce bar needs: open bulletins, this page's SOP, and how many items
    wait on the reading list (how many of them overdue)."""

    bulletins: list[VersionFacts]
    sop_id: str | None
    banner: core.Banner | None
    waiting: int = 0
    overdue: int = 0


def page_banner(
    session: Session, agent: Agent | None, tier: str, page_path: str, banks: BanksSource, *, now: datetime
) -> PageBanner:
    """Everything `/api/v1/me/banner` shows, from one release view and one agent standing."""
    release = release_view(session)
    view = release[1]
    sop_id = view.sop_for_page(page_path, tier)
    bulletins = view.open_bulletins(agent, tier, now=now)
    if agent is None:
        return PageBanner(bulletins, sop_id, None)
    view, found = standing(session, agent, banks, now=now, release=release)
    banner = core.banner_from(view, found, sop_id, now=now) if sop_id else None
    # One reading-list item per open assignment (`core.reading_items`): counted, not built.
    overdue = sum(1 for assignment in found.open if assignment.due_at <= now)
    return PageBanner(bulletins, sop_id, banner, len(found.open), overdue)

"""Acknowledgements: an agent records that they read one exact published text.

An acknowledgement is bound to the version and to the content hash of the text as the agent's
tier reads it. It is idempotent (the first record wins) and is refused for superseded
versions, forged hashes, and SOPs outside the agent's audience.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, bindparam, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb_app.acks.gates import cover_ungated_assignments, cover_ungated_update, mark_covered_assignments
from kb_app.acks.translations import ReadingText, reading_text
from kb_app.catalog import diff_texts, text_for_tier
from kb_app.catalog.diff import SopDiff
from kb_app.catalog.redline import Redline, redline
from kb_app.catalog.rendering import render_markdown
from kb_app.catalog.languages import SOURCE_LANGUAGE
from kb_app.catalog.staleness import TranslationState
from kb_app.models import Agent
from kb_app.models.acks import Acknowledgement, Assignment, PublishedVersion
from kb_app.models.translations import PublishedTranslation
from kb_app.acks.standing import AckFacts, AgentStanding, OpenAssignment, ReleaseView, VersionFacts, agent_standing
from kb_app.versions import latest_version, newest_translation, newest_version


class AckError(Exception):
    """Refused acknowledgement. `status` is the HTTP status the API answers with."""

    def __init__(self, code: str, message: str, status: int):
        self.code, self.message, self.status = code, message, status
        super().__init__(message)


def can_read(agent: Agent, version: PublishedVersion) -> bool:
    return can_read_tier(version, agent.tier)


def in_audience(agent: Agent, version: PublishedVersion) -> bool:
    audience = version.audience
    checks = (("tiers", agent.tier), ("vendors", agent.vendor), ("sites", agent.site), ("languages", agent.language))
    return all(not audience.get(key) or value in audience[key] for key, value in checks)


@dataclass
class AckResult:
    acknowledgement: Acknowledgement
    created: bool
    version: str  # the acknowledged version, as "MAJOR.MINOR"


@dataclass(frozen=True)
class KnownVersion:
    """The current version of an SOP as this process last read it (`kb_app.services.acknowledging`
    keeps it per release, once every version's update-gate decision is recorded), and whether an
    update quiz gates some version of the SOP for the agent's tier."""

    facts: VersionFacts
    gated: bool


def acknowledge(
    session: Session,
    agent: Agent,
    sop_id: str,
    content_hash: str,
    *,
    now: datetime,
    version: str | None = None,
    channel: str = "web",
    language: str | None = None,
) -> AckResult:
    """Record (or return the existing) acknowledgement of the current version of `sop_id`.

    The agent acknowledges the text they were shown: the source text, or a translation that
    translates the current major (`language`, default: the agent's roster language when the hash
    is that translation's). A stale translation's text never satisfies the current version.
    """
    current = newest_version(session, sop_id)
    if current is None or not can_read(agent, current):
        raise AckError("not_found", f"no published SOP {sop_id}", 404)
    if not agent.active:
        raise AckError("inactive", "your roster entry is inactive", 403)
    if not in_audience(agent, current):
        raise AckError("not_in_audience", f"{sop_id} is not addressed to your tier, vendor, site or language", 403)
    if current.status == "retired":
        raise AckError("retired", f"{sop_id} is retired; there is nothing to acknowledge", 409)
    if version is not None and version != current.version:
        raise AckError(
            "superseded",
            f"{sop_id} v{version} is not the current version; read and acknowledge v{current.version}",
            409,
        )
    read = _text_read(session, agent, current, content_hash, language)

    existing = _existing(session, agent.id, current.id)
    if existing is not None:
        return AckResult(existing, False, current.version)
    ack = Acknowledgement(
        agent_id=agent.id,
        version_id=current.id,
        sop_id=current.sop_id,
        major=current.major,
        minor=current.minor,
        content_hash=content_hash,
        acknowledged_at=now,
        channel=channel,
        language=read.language,
        translation_id=read.translation.id if read.translation is not None else None,
    )
    try:
        with session.begin_nested():
            session.add(ack)
    except IntegrityError:
        # Another request of the same agent won the race; its record is the acknowledgement.
        existing = _existing(session, agent.id, current.id)
        if existing is None:
            raise
        return AckResult(existing, False, current.version)
    _mark_assignments(session, ack, agent.tier)
    return AckResult(ack, True, current.version)


def acknowledge_known(
    session: Session,
    agent: Agent,
    known: KnownVersion,
    content_hash: str,
    *,
    now: datetime,
    version: str | None,
    channel: str,
) -> AckResult | None:
    """`acknowledge` in two statements (one on PostgreSQL), for the source text of a version already read (`known`).

    The acknowledgement is inserted only if that version is still the SOP's newest and the agent
    has none of it yet, with no read before the write. Returns None when this does not apply (a
    translation, a refusal to explain, a repeat, a newer version published meanwhile, gates not
    all decided): the caller then lets `acknowledge` and the rows decide."""
    facts = known.facts
    if content_hash != facts.tier_hashes.get(agent.tier):
        return None
    if version not in (None, facts.version) or facts.status == "retired":
        return None
    if not agent.active or not facts.readable_by(agent.tier) or not facts.addressed_to(agent):
        return None
    values = {
        "agent_id": agent.id,
        "version_id": facts.id,
        "sop_id": facts.sop_id,
        "major": facts.major,
        "minor": facts.minor,
        "content_hash": content_hash,
        "acknowledged_at": now,
        "channel": channel,
        "language": SOURCE_LANGUAGE,
    }
    params = {
        **{f"p_{name}": value for name, value in values.items()},
        "same_id": facts.id,
        "same_sop_id": facts.sop_id,
        "same_version": facts.version,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and not known.gated:
        # The acknowledgement and the assignments it covers in one statement (one round trip).
        found = session.connection().execute(_insert_and_cover_statement(), {**params, "p_tier": agent.tier}).first()
        if found is None:
            return None
        return AckResult(Acknowledgement(id=found[0], translation_id=None, **values), True, facts.version)
    ack_id = session.connection().execute(_insert_known_statement(dialect), params).scalar()
    if ack_id is None:
        return None
    ack = Acknowledgement(id=ack_id, translation_id=None, **values)
    if known.gated:
        mark_covered_assignments(session, agent.id, facts.sop_id, tier=agent.tier)
    else:
        cover_ungated_assignments(session, ack, agent.tier)
    return AckResult(ack, True, facts.version)


@functools.cache
def _insert_and_cover_statement() -> Any:
    """PostgreSQL: `_insert_known_statement` and `cover_ungated_update` as one statement (the
    UPDATE covers with the id the INSERT returns, and covers nothing when it inserted nothing).
    Answers (the acknowledgement's id, assignments covered), or no row when nothing was inserted."""
    inserted = _insert_known_statement("postgresql").returning(Acknowledgement.__table__.c.agent_id).cte("inserted")
    covered = (
        cover_ungated_update(inserted.c.id)
        .where(Assignment.agent_id == inserted.c.agent_id)
        .returning(Assignment.__table__.c.id)
        .cte("covered")
    )
    return select(inserted.c.id, select(func.count()).select_from(covered).scalar_subquery())


@functools.cache
def _insert_known_statement(dialect: str) -> Any:
    """`acknowledge_known`'s INSERT, built once per dialect: the acknowledgement's columns and the
    version read are parameters (`p_<column>`, `same_*`). The row is inserted only while that version is the
    very one read and still the SOP's newest (a process's memory of a release could otherwise
    outlive a restored database), and only once per agent and version."""
    table = Acknowledgement.__table__
    same = select(PublishedVersion.id).where(
        PublishedVersion.id == bindparam("same_id", type_=Integer()),
        PublishedVersion.sop_id == bindparam("same_sop_id", type_=String()),
        PublishedVersion.version == bindparam("same_version", type_=String()),
    )
    newer = select(PublishedVersion.id).where(
        PublishedVersion.sop_id == bindparam("same_sop_id", type_=String()),
        PublishedVersion.id > bindparam("same_id", type_=Integer()),
    )
    row = select(*(bindparam(f"p_{name}", type_=table.c[name].type) for name in KNOWN_COLUMNS)).where(
        exists(same), ~exists(newer)
    )
    module = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(table)
        .from_select(list(KNOWN_COLUMNS), row)
        .on_conflict_do_nothing(index_elements=["agent_id", "version_id"])
        .returning(table.c.id)
    )


KNOWN_COLUMNS = (
    "agent_id",
    "version_id",
    "sop_id",
    "major",
    "minor",
    "content_hash",
    "acknowledged_at",
    "channel",
    "language",
)


def _text_read(
    session: Session, agent: Agent, current: PublishedVersion, content_hash: str, language: str | None
) -> ReadingText:
    """Which served text `content_hash` is: the source's, or the servable translation's. Raises AckError."""
    if content_hash == current.tier_hashes[agent.tier] and language in (None, SOURCE_LANGUAGE):
        return ReadingText(SOURCE_LANGUAGE, None, None)
    wanted = language or agent.language
    served = reading_text(session, current, wanted)
    if served.translation is not None and content_hash == served.translation.tier_hashes.get(agent.tier):
        return served
    if content_hash == current.tier_hashes[agent.tier]:
        return ReadingText(SOURCE_LANGUAGE, served.state, None)  # the source text, read on a language site
    stale = served.state is TranslationState.STALE and served.translation is None
    old = newest_translation(session, current.sop_id, wanted) if stale else None
    if old is not None and content_hash == old.tier_hashes.get(agent.tier):
        raise AckError(
            "translation_stale",
            f"the {wanted} text of {current.sop_id} translates v{old.source_version} and misses the v{current.major}.0 change; "
            f"read the current text (v{current.version}) and acknowledge that",
            409,
        )
    raise AckError(
        "hash_mismatch",
        f"the text you acknowledged is not the current text of {current.sop_id} v{current.version}; reload the page and read it again",
        409,
    )


def _existing(session: Session, agent_id: int, version_id: int) -> Acknowledgement | None:
    return session.scalars(
        select(Acknowledgement).where(Acknowledgement.agent_id == agent_id, Acknowledgement.version_id == version_id)
    ).first()


def _mark_assignments(session: Session, ack: Acknowledgement, tier: str) -> None:
    # Coverage may also wait for an update quiz that gates this version (kb_app.quizzes.certification).
    mark_covered_assignments(session, ack.agent_id, ack.sop_id, tier=tier)


@dataclass
class ReadingItem:
    requirement_id: int
    sop_id: str
    title: str
    version: str
    summary: str
    due_at: datetime
    overdue: bool
    is_bulletin: bool
    last_acknowledged: str | None
    path: str
    # Acknowledged, but it counts only once the agent passes one of these update quizzes.
    quiz_bank_ids: list[str] | None = None
    acknowledged_at: datetime | None = None
    # new: never acknowledged before; major: a material change since the last acknowledged
    # version; minor: an editorial one
    change: str = "new"

    @property
    def to_read(self) -> bool:
        """Still to be read and acknowledged (not only waiting for an update quiz)."""
        return self.acknowledged_at is None


def change_kind(required_major: int, last: AckFacts | None) -> str:
    if last is None:
        return "new"
    return "major" if required_major > last.major else "minor"


def reading_order(item: ReadingItem) -> tuple:
    """Open bulletins first, then overdue items, then by due date."""
    return (not item.is_bulletin, not item.overdue, item.due_at, item.sop_id)


def reading_list(session: Session, agent: Agent, *, now: datetime) -> list[ReadingItem]:
    """The agent's open, unacknowledged requirements: open bulletins, then overdue, then soonest due."""
    return reading_items(ReleaseView.load(session), agent_standing(session, agent), now=now)


def _quizzes_by_sop(standing: AgentStanding) -> dict[str, OpenAssignment]:
    return {item.sop_id: item for item in standing.open if item.quiz_bank_ids}


def reading_items(view: ReleaseView, standing: AgentStanding, *, now: datetime) -> list[ReadingItem]:
    """The reading list from an already-read standing (no query)."""
    quizzes = _quizzes_by_sop(standing)
    items = []
    for assignment in standing.open:
        current = view.latest[assignment.sop_id]
        quiz = quizzes.get(assignment.sop_id)
        last = standing.last_acknowledged(assignment.sop_id)
        items.append(
            ReadingItem(
                requirement_id=assignment.requirement_id,
                sop_id=assignment.sop_id,
                title=current.title,
                version=current.version,
                summary=assignment.summary,
                due_at=assignment.due_at,
                overdue=assignment.due_at <= now,
                is_bulletin=assignment.is_bulletin,
                last_acknowledged=last.version if last else None,
                path=current.path,
                quiz_bank_ids=quiz.quiz_bank_ids if quiz else None,
                acknowledged_at=quiz.acknowledged_at if quiz else None,
                change=change_kind(assignment.major, last),
            )
        )
    return sorted(items, key=reading_order)


def next_to_read(items: list[ReadingItem], after: str) -> ReadingItem | None:
    """The first item still to read, other than the SOP `after` just acknowledged."""
    return next((item for item in items if item.sop_id != after and item.to_read), None)


def last_acknowledged_versions(session: Session, agent_id: int) -> dict[str, str]:
    rows = session.execute(
        select(Acknowledgement.sop_id, PublishedVersion.version)
        .join(PublishedVersion, PublishedVersion.id == Acknowledgement.version_id)
        .where(Acknowledgement.agent_id == agent_id)
        .order_by(Acknowledgement.sop_id, PublishedVersion.major, PublishedVersion.minor)
    ).all()
    return dict(rows)  # the last row per SOP is the newest


@dataclass
class WhatChanged:
    current: PublishedVersion
    previous: PublishedVersion | None  # the version this agent last acknowledged, if any
    diff: SopDiff | None  # None when they never acknowledged: show the full text
    text: str  # the current text as the agent's tier reads it, in `language`
    content_hash: str  # what the Acknowledge button sends
    acknowledged: Acknowledgement | None
    language: str = SOURCE_LANGUAGE  # the language of `text`
    reading_language: str = SOURCE_LANGUAGE  # the language the agent reads in
    translation_state: TranslationState | None = None  # how that language's translation stands
    translation: PublishedTranslation | None = None  # the translation of `text`, when one is served
    stale_translation: PublishedTranslation | None = None  # the out-of-date one not served
    previous_text: str | None = None  # the text last acknowledged, as the agent's tier reads it

    @property
    def title(self) -> str:
        return self.translation.title if self.translation is not None else self.current.title

    def redline(self) -> Redline | None:
        """The rendered word-level change since the text last acknowledged (None: show it all).

        Both texts are the agent's tier's, so another tier's block is in neither."""
        if self.diff is None or self.previous_text is None:
            return None
        path = self.current.path
        return redline(self.previous_text, self.text, lambda markdown: render_markdown(markdown, path))


def what_changed(session: Session, agent: Agent, sop_id: str, language: str | None = None) -> WhatChanged:
    current = newest_version(session, sop_id)
    if current is None or not can_read(agent, current):
        raise AckError("not_found", f"no published SOP {sop_id}", 404)
    acks = session.scalars(
        select(Acknowledgement)
        .join(PublishedVersion, PublishedVersion.id == Acknowledgement.version_id)
        .where(Acknowledgement.agent_id == agent.id, Acknowledgement.sop_id == sop_id)
        .order_by(PublishedVersion.major.desc(), PublishedVersion.minor.desc())
    ).all()
    text = text_for_tier(current.body, agent.tier)
    on_current = next((a for a in acks if a.version_id == current.id), None)
    previous = acks[0].version if acks and acks[0].version_id != current.id else None
    diff = None
    previous_text = None
    if previous is not None:
        previous_text = text_for_tier(previous.body, agent.tier)
        diff = diff_texts(previous_text, text, old_label=f"v{previous.version}", new_label=f"v{current.version}")
    reading = language or agent.language
    served = reading_text(session, current, reading)
    if served.translation is not None:
        return _translated_change(session, agent, current, previous, acks, on_current, served, reading)
    stale = newest_translation(session, sop_id, reading) if served.state is TranslationState.STALE else None
    return WhatChanged(
        current,
        previous,
        diff,
        text,
        current.tier_hashes[agent.tier],
        on_current,
        reading_language=reading,
        translation_state=served.state,
        stale_translation=stale,
        previous_text=previous_text,
    )


def _translated_change(session, agent, current, previous, acks, on_current, served: ReadingText, reading: str):
    """The change in the agent's language: diffed against the last translation they acknowledged in it."""
    translation = served.translation
    assert translation is not None
    text = text_for_tier(translation.body, agent.tier)
    earlier = next(
        (a for a in acks if a.translation_id is not None and a.language == reading and a.version_id != current.id), None
    )
    diff = None
    previous_text = None
    if previous is not None and earlier is not None:
        old = session.get(PublishedTranslation, earlier.translation_id)
        previous_text = text_for_tier(old.body, agent.tier)
        diff = diff_texts(
            previous_text,
            text,
            old_label=f"v{earlier.version.version} ({reading})",
            new_label=f"v{current.version} ({reading})",
        )
        previous = earlier.version
    elif previous is not None:
        previous = None  # last read in another language: show the whole text in this one
    return WhatChanged(
        current,
        previous,
        diff,
        text,
        translation.tier_hashes[agent.tier],
        on_current,
        language=reading,
        reading_language=reading,
        translation_state=served.state,
        translation=translation,
        previous_text=previous_text,
    )


@dataclass
class Banner:
    sop_id: str
    state: str  # acknowledged | action_required | overdue | quiz_required | none
    version: str
    acknowledged_at: datetime | None = None
    due_at: datetime | None = None
    quiz_bank_ids: list[str] | None = None  # quiz_required: pass one of these for the acknowledgement to count


def banner_for(session: Session, agent: Agent, sop_id: str, *, now: datetime) -> Banner | None:
    """What the SOP page tells this agent: acknowledged vX on ..., or action required by ..."""
    return banner_from(ReleaseView.load(session), agent_standing(session, agent), sop_id, now=now)


def banner_from(view: ReleaseView, standing: AgentStanding, sop_id: str, *, now: datetime) -> Banner | None:
    """The banner from an already-read standing (no query)."""
    current = view.latest.get(sop_id)
    if current is None or not current.readable_by(standing.tier):
        return None
    pending = next((a for a in standing.open if a.sop_id == sop_id), None)  # soonest due first
    if pending is not None:
        quiz = _quizzes_by_sop(standing).get(sop_id)
        if quiz is not None and quiz.acknowledged_at is not None:
            return Banner(
                sop_id,
                "quiz_required",
                current.version,
                acknowledged_at=quiz.acknowledged_at,
                due_at=pending.due_at,
                quiz_bank_ids=quiz.quiz_bank_ids,
            )
        state = "overdue" if pending.due_at <= now else "action_required"
        return Banner(sop_id, state, current.version, due_at=pending.due_at)
    ack = standing.last_acknowledged(sop_id)
    if ack is not None:
        return Banner(sop_id, "acknowledged", ack.version, acknowledged_at=ack.acknowledged_at)
    return Banner(sop_id, "none", current.version)


def open_bulletins(session: Session, agent: Agent | None, tier: str, *, now: datetime) -> list[PublishedVersion]:
    """Bulletins still open (active, not expired) that this reader's audience must see."""
    rows = session.scalars(
        select(PublishedVersion).where(PublishedVersion.kind == "bulletin").order_by(PublishedVersion.id)
    )
    newest = {row.sop_id: row for row in rows}  # ordered by id: the last one per SOP wins
    result = []
    for row in newest.values():
        if row.status != "active" or (row.expires_at is not None and row.expires_at <= now):
            continue
        if tier not in row.tier_hashes:
            continue
        if agent is not None and not in_audience(agent, row):
            continue
        result.append(row)
    return result


def sop_for_site_page(session: Session, page_path: str, tier: str) -> str | None:
    """The SOP a built-site URL (`/sop/procedures/ato-recovery/`) shows, if `tier` may read it."""
    if not page_path.startswith("/sop/"):
        return None
    relative = page_path[len("/sop/") :].strip("/")
    if not relative:
        return None
    sop_id = session.scalars(
        select(PublishedVersion.sop_id)
        .where(PublishedVersion.path.in_([f"{relative}.md", f"{relative}/index.md"]))
        .order_by(PublishedVersion.id.desc())
    ).first()
    if sop_id is None:
        return None
    current = latest_version(session, sop_id)
    return sop_id if current is not None and can_read_tier(current, tier) else None


def can_read_tier(version: PublishedVersion, tier: str) -> bool:
    return tier in version.tier_hashes

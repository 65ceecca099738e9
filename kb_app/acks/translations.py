"""Translations on the database side: publishing them, which one an agent may read as in force,
and coverage by language (agents blocked by a missing or stale translation, translation lag).

A published translation is servable for a source version when it translates the same major
(`current` or `minor-behind`); otherwise the agent reads, and acknowledges, the source text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from kb_app.catalog import Catalog, Status
from kb_app.catalog.languages import SOURCE_LANGUAGE
from kb_app.catalog.staleness import TranslationState, state_of
from kb_app.catalog.translations import Translation
from kb_app.models import Agent
from kb_app.models.acks import Assignment, PublishedVersion, Requirement
from kb_app.models.translations import PublishedTranslation
from kb_app.versions import newest_translation

TIERS = ("T1", "T2")


@dataclass
class TranslationItem:
    sop_id: str
    language: str
    source_version: str
    action: str  # new | changed
    path: str

    def to_dict(self) -> dict:
        return {
            "sop_id": self.sop_id,
            "language": self.language,
            "source_version": self.source_version,
            "action": self.action,
            "path": self.path,
        }


def _published_hashes(session: Session) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for sop_id, language, digest in session.execute(
        select(PublishedTranslation.sop_id, PublishedTranslation.language, PublishedTranslation.content_hash)
    ):
        found.setdefault((sop_id, language), set()).add(digest)
    return found


def plan_translations(session: Session, catalog: Catalog) -> list[TranslationItem]:
    """Translations whose text is not published yet (sources in draft are left out)."""
    published = _published_hashes(session)
    items = []
    for (sop_id, language), translation in sorted(catalog.translations.items()):
        source = catalog.get(sop_id)
        if source is None or source.status is Status.DRAFT:
            continue
        known = published.get((sop_id, language), set())
        if translation.content_hash in known:
            continue
        action = "changed" if known else "new"
        items.append(TranslationItem(sop_id, language, translation.source_version, action, translation.path))
    return items


def record_translations(session: Session, catalog: Catalog, items: list[TranslationItem], *, now: datetime, by: str):
    for item in items:
        translation: Translation = catalog.translations[(item.sop_id, item.language)]
        source = catalog.get(item.sop_id)
        assert source is not None  # planned from the catalog
        session.add(
            PublishedTranslation(
                sop_id=item.sop_id,
                language=item.language,
                source_version=translation.source_version,
                source_major=translation.source_major,
                source_minor=translation.source_minor,
                title=translation.title,
                path=translation.rel_path or translation.path,
                content_hash=translation.content_hash,
                tier_hashes={t: translation.content_hash_for(t) for t in TIERS if source.visible_to(t)},
                body=translation.body,
                sections=[s.to_dict() for s in translation.sections],
                translated_by=translation.translated_by,
                reviewed_by=translation.reviewed_by,
                published_at=now,
                published_by=by,
            )
        )
    session.flush()


@dataclass
class ReadingText:
    """The text an agent is served as in force for one SOP version, in the language served."""

    language: str
    state: TranslationState | None  # None when the reader's language is the source language
    translation: PublishedTranslation | None  # set when the translation is served

    @property
    def is_translation(self) -> bool:
        return self.translation is not None


def reading_text(session: Session, current: PublishedVersion, language: str | None) -> ReadingText:
    """Which text of `current` an agent reading in `language` is served: the translation when it
    translates the same major, the source otherwise (with the state saying why)."""
    if not language or language == SOURCE_LANGUAGE:
        return ReadingText(SOURCE_LANGUAGE, None, None)
    translation = newest_translation(session, current.sop_id, language)
    state = state_of(current.version, translation.source_version if translation else None)
    if translation is not None and state in (TranslationState.CURRENT, TranslationState.MINOR_BEHIND):
        return ReadingText(language, state, translation)
    return ReadingText(SOURCE_LANGUAGE, state, None)  # stale or missing: the source is in force


# --- coverage by language ----------------------------------------------------------------------


@dataclass
class LanguageCoverageRow:
    requirement_id: int
    sop_id: str
    version: str
    language: str
    population: int
    acknowledged: int
    pending: int
    blocked: int  # pending agents whose language has no current translation of this version
    translation_state: str  # current | minor-behind | stale | missing | source
    translated_version: str | None
    lag_hours: float | None  # source publish -> translation publish; None while still missing
    waiting_hours: float | None  # while missing or stale: hours since the source was published

    def to_dict(self) -> dict:
        return {
            "requirement_id": self.requirement_id,
            "sop_id": self.sop_id,
            "version": self.version,
            "language": self.language,
            "population": self.population,
            "acknowledged": self.acknowledged,
            "pending": self.pending,
            "blocked": self.blocked,
            "translation_state": self.translation_state,
            "translated_version": self.translated_version,
            "lag_hours": self.lag_hours,
            "waiting_hours": self.waiting_hours,
        }


def coverage_by_language(
    session: Session, *, now: datetime, vendor: str | None = None, open_only: bool = True
) -> list[LanguageCoverageRow]:
    """Per requirement and agent language: population, acknowledged, pending, blocked, lag. Two queries."""
    counts = select(
        Requirement.id,
        Requirement.sop_id,
        PublishedVersion.version,
        PublishedVersion.major,
        PublishedVersion.minor,
        PublishedVersion.published_at,
        Agent.language,
        func.count(Assignment.id),
        func.sum(case((Assignment.acknowledged_at.is_not(None), 1), else_=0)),
    ).select_from(Assignment)
    counts = (
        counts.join(Requirement, Requirement.id == Assignment.requirement_id)
        .join(PublishedVersion, PublishedVersion.id == Requirement.version_id)
        .join(Agent, Agent.id == Assignment.agent_id)
        .where(Agent.active.is_(True))
    )
    if open_only:
        counts = counts.where(Requirement.closed_at.is_(None))
    if vendor is not None:
        counts = counts.where(Agent.vendor == vendor)
    counts = counts.group_by(
        Requirement.id,
        Requirement.sop_id,
        PublishedVersion.version,
        PublishedVersion.major,
        PublishedVersion.minor,
        PublishedVersion.published_at,
        Agent.language,
    ).order_by(Requirement.sop_id, Requirement.id, Agent.language)
    rows = session.execute(counts).all()
    if not rows:
        return []
    # Every translation of the SOPs concerned, oldest first: the first one of a requirement's major
    # (at or after its version) ends the lag; the newest one says what is served now.
    sop_ids = sorted({row[1] for row in rows})
    translations: dict[tuple[str, str], list[PublishedTranslation]] = {}
    for t in session.scalars(
        select(PublishedTranslation).where(PublishedTranslation.sop_id.in_(sop_ids)).order_by(PublishedTranslation.id)
    ):
        translations.setdefault((t.sop_id, t.language), []).append(t)
    result = []
    for req_id, sop_id, version, major, minor, published_at, language, population, acknowledged in rows:
        acknowledged = int(acknowledged or 0)
        pending = population - acknowledged
        if language == SOURCE_LANGUAGE:
            result.append(
                LanguageCoverageRow(
                    req_id, sop_id, version, language, population, acknowledged, pending, 0, "source", None, None, None
                )
            )
            continue
        history = translations.get((sop_id, language), [])
        newest = history[-1] if history else None
        state = state_of(version, newest.source_version if newest else None)
        landed = next(
            (t for t in history if t.source_major == major and (t.source_major, t.source_minor) >= (major, minor)),
            None,
        )
        servable = state in (TranslationState.CURRENT, TranslationState.MINOR_BEHIND)
        lag = _hours(landed.published_at - published_at) if landed is not None else None
        waiting = None if servable else _hours(now - published_at)
        result.append(
            LanguageCoverageRow(
                req_id,
                sop_id,
                version,
                language,
                population,
                acknowledged,
                pending,
                0 if servable else pending,
                state.value,
                newest.source_version if newest else None,
                lag,
                waiting,
            )
        )
    return result


def _hours(delta) -> float:
    return round(max(delta.total_seconds(), 0) / 3600, 1)

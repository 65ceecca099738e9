"""How far each translation trails its source, to the version.

`current`: same MAJOR.MINOR as the source. `minor-behind`: same major, older minor (editorial
drift: shown, with a note). `stale`: the source has a newer major, so a material change is
missing: never served as the procedure in force. `missing`: no translation in that language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import Enum

from kb_app.catalog.model import Catalog, ChangelogItem, Sop
from kb_app.catalog.schema import Status, parse_version
from kb_app.catalog.translations import Translation


class TranslationState(str, Enum):
    CURRENT = "current"
    MINOR_BEHIND = "minor-behind"
    STALE = "stale"
    MISSING = "missing"


def state_of(source_version: str, translated_version: str | None) -> TranslationState:
    if translated_version is None:
        return TranslationState.MISSING
    source, translated = parse_version(source_version), parse_version(translated_version)
    if translated[0] < source[0]:
        return TranslationState.STALE
    if translated < source:
        return TranslationState.MINOR_BEHIND
    return TranslationState.CURRENT


def servable(state: TranslationState) -> bool:
    """Whether a translation in this state may be shown as the procedure in force."""
    return state in (TranslationState.CURRENT, TranslationState.MINOR_BEHIND)


@dataclass
class StatusRow:
    sop_id: str
    title: str
    language: str
    state: TranslationState
    source_version: str
    translated_version: str | None
    days_stale: int | None  # days since the first source change the translation misses
    missed: list[ChangelogItem] = field(default_factory=list)  # those changes, newest first
    path: str | None = None

    def to_dict(self) -> dict:
        return {
            "sop_id": self.sop_id,
            "title": self.title,
            "language": self.language,
            "state": self.state.value,
            "source_version": self.source_version,
            "translated_version": self.translated_version,
            "days_stale": self.days_stale,
            "missed_changes": [
                {"version": c.version, "date": c.date.isoformat(), "summary": c.summary, "ack_required": c.ack_required}
                for c in self.missed
            ],
            "path": self.path,
        }

    @property
    def missed_summary(self) -> str:
        return " ".join(f"v{c.version}: {c.summary}" for c in self.missed)


def missed_changes(sop: Sop, translated_version: str | None) -> list[ChangelogItem]:
    """Changelog entries newer than the translated version (every entry of the current major when missing)."""
    if translated_version is None:
        return [c for c in sop.changelog if parse_version(c.version)[0] == sop.major][-1:]
    translated = parse_version(translated_version)
    return [c for c in sop.changelog if parse_version(c.version) > translated]


def translation_status(sop: Sop, translation: Translation | None, language: str, today: date) -> StatusRow:
    translated = translation.source_version if translation is not None else None
    state = state_of(sop.version, translated)
    missed = [] if state is TranslationState.CURRENT else missed_changes(sop, translated)
    if state is TranslationState.STALE:
        # The material change: the oldest entry of a newer major than the translation's.
        material = [c for c in missed if parse_version(c.version)[0] > parse_version(translated)[0]]  # type: ignore[arg-type]
        since = min(c.date for c in material) if material else None
        missed = material
    elif missed:
        since = min(c.date for c in missed)
    else:
        since = None
    return StatusRow(
        sop_id=sop.id,
        title=sop.title,
        language=language,
        state=state,
        source_version=sop.version,
        translated_version=translated,
        days_stale=max((today - since).days, 0) if since is not None else None,
        missed=missed,
        path=translation.path if translation is not None else None,
    )


def translatable(catalog: Catalog) -> list[Sop]:
    """SOPs a translation is expected for: in force and readable by Tier 1 (the BPO sites)."""
    return [s for s in catalog if s.status is Status.ACTIVE and s.visible_to("T1")]


def status_table(
    catalog: Catalog, languages: list[str], today: date, *, language: str | None = None
) -> list[StatusRow]:
    """Every translatable SOP x language, with its state. Languages: the given ones plus any translated into."""
    wanted = [language] if language else sorted(set(languages) | set(catalog.translation_languages()))
    rows = []
    for sop in translatable(catalog):
        for code in wanted:
            if sop.audience.languages and code not in sop.audience.languages:
                continue
            rows.append(translation_status(sop, catalog.translation(sop.id, code), code, today))
    return rows

"""What a per-language site serves for one SOP: the translation when it may be in force, else the source.

A `current` or `minor-behind` translation is served (the latter with a note); a `stale` or
`missing` one is replaced by the source text with a note saying which change is missing. The
served text's hash is what an agent reading that page acknowledges.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml

from kb_app.catalog import Sop
from kb_app.catalog.languages import SOURCE_LANGUAGE, direction, language_name
from kb_app.catalog.staleness import StatusRow, TranslationState, servable, translation_status
from kb_app.catalog.translations import Translation

NOTES_FILE = Path(__file__).resolve().parent.parent / "data" / "translation_notes.yml"


@lru_cache(maxsize=1)
def _notes() -> dict[str, dict[str, str]]:
    with NOTES_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def note_text(language: str, key: str) -> str:
    notes = _notes()
    return notes.get(language, notes[SOURCE_LANGUAGE]).get(key) or notes[SOURCE_LANGUAGE][key]


@dataclass
class ServedPage:
    sop: Sop
    language: str  # the language of the text served (the source language when falling back)
    site_language: str  # the language of the site
    title: str
    body: str  # as the tier reads it, links pointing inside the site
    content_hash: str
    status: StatusRow | None  # None on the source-language site
    translation: Translation | None

    @property
    def is_translation(self) -> bool:
        return self.language != SOURCE_LANGUAGE

    @property
    def state(self) -> str:
        return self.status.state.value if self.status else TranslationState.CURRENT.value


def _in_site_links(text: str, language: str) -> str:
    """Links to `x.<language>.md` become `x.md`: in a language site that page is the translation."""
    return re.sub(rf"(\]\([^)\s]*?)\.{re.escape(language)}\.md", r"\1.md", text)


def served_page(sop: Sop, translation: Translation | None, tier: str, language: str, today: date) -> ServedPage:
    if language == SOURCE_LANGUAGE:
        return ServedPage(
            sop, SOURCE_LANGUAGE, language, sop.title, sop.text_for(tier), sop.content_hash_for(tier), None, None
        )
    status = translation_status(sop, translation, language, today)
    if translation is not None and servable(status.state):
        return ServedPage(
            sop,
            language,
            language,
            translation.title,
            _in_site_links(translation.text_for(tier), language),
            translation.content_hash_for(tier),
            status,
            translation,
        )
    return ServedPage(
        sop, SOURCE_LANGUAGE, language, sop.title, sop.text_for(tier), sop.content_hash_for(tier), status, translation
    )


def notice(page: ServedPage) -> str:
    """The note under the metadata card, in the site's language (empty on the source site)."""
    if page.status is None:
        return ""
    state = page.status.state
    key = {
        TranslationState.CURRENT: "current",
        TranslationState.MINOR_BEHIND: "minor_behind",
        TranslationState.STALE: "stale",
        TranslationState.MISSING: "missing",
    }[state]
    changes = "; ".join(f"v{c.version} ({c.date.isoformat()}): {c.summary}" for c in page.status.missed)
    text = note_text(page.site_language, key).format(
        language=language_name(page.site_language),
        translated=page.status.translated_version or "",
        version=page.sop.version,
        changes=changes,
        reviewer=page.translation.reviewed_by if page.translation else "",
    )
    css = {"current": "current", "minor_behind": "minor", "stale": "stale", "missing": "missing"}[key]
    # A translation one minor behind is shown; the English text it drifted from is one click away.
    link = (
        f' <a href="?kb_lang={SOURCE_LANGUAGE}" hreflang="{SOURCE_LANGUAGE}">{html.escape(note_text(page.site_language, "source_link"))}</a>'
        if state is TranslationState.MINOR_BEHIND
        else ""
    )
    return (
        f'<p class="kb-translation-note kb-translation-note--{css}" data-kb-translation-state="{state.value}" '
        f'lang="{html.escape(page.site_language)}" dir="{direction(page.site_language)}">'
        f"{html.escape(text)}{link}</p>"
    )

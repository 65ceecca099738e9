"""Search in the reader's language: one Whoosh index per tier and translated language, built
with that language's analyzer (Whoosh's stemmer and stop words where it has them).

A language index holds the sections of the translations that may be served as in force
(`current` or `minor-behind`), as the tier reads them: Tier 2 blocks never reach a Tier 1
language index, and Tier 2-only SOPs are never in one. Pages without such a translation are
found through the source-language index, which a language search falls back to.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.analysis import LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.fields import STORED, TEXT, Schema
from whoosh.highlight import ContextFragmenter, HtmlFormatter
from whoosh.lang import has_stemmer, has_stopwords, stemmer_for_language, stopwords_for_language
from whoosh.qparser import MultifieldParser, OrGroup
from whoosh.scoring import BM25F

from kb_app.catalog import Catalog, Sop
from kb_app.catalog.sections import split_sections
from kb_app.catalog.staleness import servable, translation_status
from kb_app.catalog.translations import Translation
from kb_app.search.analysis import TOKEN_PATTERN, clean_text
from kb_app.search.documents import is_searchable, page_path, section_url
from kb_app.search.results import SearchHit

META = "language.json"
_MARK = re.compile(r'<mark class="[^"]*">')


def language_analyzer(language: str):
    """Words in lower case, the language's stop words removed and its stemmer applied (when
    Whoosh ships them; Tagalog, for example, gets words only)."""
    chain = RegexTokenizer(TOKEN_PATTERN) | LowercaseFilter()
    if has_stopwords(language):
        chain = chain | StopFilter(stoplist=stopwords_for_language(language), minsize=1)
    if has_stemmer(language):
        chain = chain | StemFilter(stemfn=stemmer_for_language(language), cachesize=-1)
    return chain


def language_schema(language: str) -> Schema:
    analyzer = language_analyzer(language)
    return Schema(
        title=TEXT(analyzer=analyzer, stored=True),
        heading=TEXT(analyzer=analyzer, stored=True),
        body=TEXT(analyzer=analyzer, stored=True),
        sop_id=STORED(),
        kind=STORED(),
        status=STORED(),
        version=STORED(),
        anchor=STORED(),
        page=STORED(),
        tags=STORED(),
        owner=STORED(),
    )


def index_name(tier: str, language: str) -> str:
    return f"{tier}.{language}"


def served_translations(catalog: Catalog, tier: str, language: str, today: date) -> list[tuple[Sop, Translation]]:
    """(source, translation) for every SOP this tier may search whose translation is servable."""
    found = []
    for sop in catalog:
        if not is_searchable(sop, tier):
            continue
        translation = catalog.translation(sop.id, language)
        if translation is not None and servable(translation_status(sop, translation, language, today).state):
            found.append((sop, translation))
    return found


def build_language_index(catalog: Catalog, tier: str, language: str, path: Path, today: date) -> int:
    """Write the index of one tier and language at `path`; returns the number of sections."""
    path.mkdir()
    ix = whoosh_index.create_in(str(path), language_schema(language))
    writer = ix.writer()
    count = 0
    pages = served_translations(catalog, tier, language, today)
    try:
        for sop, translation in pages:
            for section in split_sections(translation.text_for(tier)):
                # The heading is its own field; the body is what is under it.
                body = section.text.split("\n", 1)[1] if section.anchor and "\n" in section.text else section.text
                heading = section.heading or translation.title
                writer.add_document(
                    title=translation.title,
                    heading=heading,
                    body=body,
                    sop_id=sop.id,
                    kind=sop.kind.value,
                    status=sop.status.value,
                    version=sop.version,
                    anchor=section.anchor,
                    page=page_path(sop.rel_path or sop.path),
                    tags=",".join(sop.tags),
                    owner=sop.owner,
                )
                count += 1
        writer.commit()
    except BaseException:
        writer.cancel()
        raise
    meta = {"tier": tier, "language": language, "sops": len(pages), "sections": count}
    (path / META).write_text(json.dumps(meta), encoding="utf-8")
    return count


class LanguageIndex:
    """An open language index: BM25F over title, heading and body with the language's analyzer."""

    def __init__(self, path: Path, tier: str, language: str):
        self.tier, self.language = tier, language
        self._ix = whoosh_index.open_dir(str(path))
        self._parser = MultifieldParser(
            ["title", "heading", "body"],
            schema=self._ix.schema,
            group=OrGroup.factory(0.9),
            fieldboosts={"title": 3.0, "heading": 2.0, "body": 1.0},
        )

    def search(self, text: str, *, limit: int, url_prefix: str) -> list[SearchHit]:
        words = " ".join(clean_text(text).replace('"', " ").split())
        if not words:
            return []
        query = self._parser.parse(words)
        with self._ix.searcher(weighting=BM25F()) as searcher:
            results = searcher.search(query, limit=limit, terms=True)
            results.formatter = HtmlFormatter(tagname="mark", classname="", termclass="", between=" … ")
            results.fragmenter = ContextFragmenter(maxchars=200, surround=60)
            hits = []
            for hit in results:
                snippet = _MARK.sub("<mark>", hit.highlights("body", top=1) or "")
                hits.append(
                    SearchHit(
                        sop_id=hit["sop_id"],
                        title=hit["title"],
                        kind=hit["kind"],
                        status=hit["status"],
                        version=hit["version"],
                        section=hit["heading"],
                        anchor=hit["anchor"],
                        url=section_url(hit["page"], hit["anchor"], url_prefix),
                        snippet=snippet,
                        score=float(hit.score),
                        tags=tuple(t for t in hit["tags"].split(",") if t),
                        owner=hit["owner"],
                        language=self.language,
                    )
                )
            return hits

    def close(self) -> None:
        self._ix.close()

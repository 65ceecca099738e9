"""`kb validate` rules for translations: each problem as `path:line: message`.

A translation must name an SOP that exists and a version that SOP has had, carry an ISO 639-1
language other than the source's, sit beside its source as `<stem>.<language>.md`, keep exactly
the sections (anchors, in order) and tier blocks of the source version it translates, and link
only inside its language or to sources, with the same Tier 2 rules as the source.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from kb_app.catalog.gitrev import GitUnavailable, sop_versions_in_history
from kb_app.catalog.languages import SOURCE_LANGUAGE, direction, is_iso639_1
from kb_app.catalog.links import extract_links
from kb_app.catalog.model import Catalog, Sop
from kb_app.catalog.sections import find_headings, find_tier_blocks
from kb_app.catalog.translations import TRANSLATION_FILE, Translation
from kb_app.problems import Problem

_DIR_ATTRIBUTE = re.compile(r"""\bdir\s*=\s*["']?(ltr|rtl)\b""", re.IGNORECASE)
_TIER_TEXT = {frozenset({"T1"}): "T1", frozenset({"T2"}): "T2", frozenset({"T1", "T2"}): "T1, T2"}

SourceLookup = Callable[[Sop, str], "Sop | None"]


def history_lookup(catalog: Catalog) -> SourceLookup:
    """Find the source text of an older version in git history (cached per SOP file)."""
    cache: dict[str, dict[str, Sop]] = {}

    def lookup(sop: Sop, version: str) -> Sop | None:
        if version == sop.version:
            return sop
        if sop.rel_path not in cache:
            try:
                cache[sop.rel_path] = sop_versions_in_history(catalog.root, sop.rel_path)
            except GitUnavailable:
                cache[sop.rel_path] = {}
        return cache[sop.rel_path].get(version)

    return lookup


@lru_cache(maxsize=1024)  # a source version's structure is compared with each of its translations
def _structure(body: str) -> tuple[list[tuple[str, int, int]], list[tuple[str, frozenset[str], int]]]:
    """(anchor, level, body line) of every heading; (section anchor, tiers, body line) of every tier block."""
    headings = [(h.requested, h.level, h.line) for h in find_headings(body)]
    blocks, _ = find_tier_blocks(body)
    placed = []
    for block in blocks:
        section = ""
        for anchor, _, line in headings:
            if line < block.start:
                section = anchor
        placed.append((section, block.tiers, block.start))
    return headings, placed


def _where(anchor: str) -> str:
    return f"section #{anchor}" if anchor else "the lead text"


def check_structure(translation: Translation, source: Sop) -> list[Problem]:
    problems = []
    path, offset = translation.path, translation.body_start_line - 1
    source_headings, source_blocks = _structure(source.body)
    headings, blocks = _structure(translation.body)
    source_anchors = [a for a, _, _ in source_headings]
    anchors = [a for a, _, _ in headings]
    source_lines = {a: line + source.body_start_line - 1 for a, _, line in source_headings}
    for anchor, _level, line in headings:
        if anchor not in source_anchors:
            problems.append(
                Problem.error(
                    path,
                    line + offset,
                    f"adds section #{anchor}, which {source.id} v{translation.source_version} does not have: keep the "
                    f"source's sections and give each heading the source's anchor, e.g. {{#{source_anchors[0] if source_anchors else 'anchor'}}}",
                )
            )
    for anchor in source_anchors:
        if anchor not in anchors:
            problems.append(
                Problem.error(
                    path,
                    translation.body_start_line,
                    f"drops section #{anchor} of {source.id} v{translation.source_version} (source line {source_lines[anchor]})",
                )
            )
    common_source = [a for a in source_anchors if a in anchors]
    common = [a for a in anchors if a in source_anchors]
    if common != common_source:
        first = next(i for i, (a, b) in enumerate(zip(common, common_source)) if a != b)
        line = next(line for a, _, line in headings if a == common[first])
        problems.append(
            Problem.error(
                path,
                line + offset,
                f"sections are out of the source's order: #{common[first]} where the source has #{common_source[first]}",
            )
        )
    levels = {a: lvl for a, lvl, _ in source_headings}
    for anchor, level, line in headings:
        if anchor in levels and levels[anchor] != level:
            problems.append(
                Problem.error(
                    path,
                    line + offset,
                    f"section #{anchor} is a level-{level} heading here but level {levels[anchor]} in the source",
                )
            )
    remaining = [(s, t) for s, t, _ in blocks]
    for section, tiers, line in source_blocks:
        if (section, tiers) in remaining:
            remaining.remove((section, tiers))
            continue
        problems.append(
            Problem.error(
                path,
                _heading_line(headings, section, translation),
                f"drops the '/// tier | {_TIER_TEXT.get(tiers, ', '.join(sorted(tiers)))}' block of {_where(section)} "
                f"(source line {line + source.body_start_line - 1}): Tier-specific text must stay in its tier block",
            )
        )
    expected = [(s, t) for s, t, _ in source_blocks]
    for section, tiers, line in blocks:
        if (section, tiers) not in expected:
            problems.append(
                Problem.error(
                    path,
                    line + offset,
                    f"adds a '/// tier | {_TIER_TEXT.get(tiers, ', '.join(sorted(tiers)))}' block in {_where(section)}, "
                    f"which {source.id} v{translation.source_version} does not have there",
                )
            )
        else:
            expected.remove((section, tiers))
    return problems


def _heading_line(headings, anchor: str, translation: Translation) -> int:
    for name, _, line in headings:
        if name == anchor:
            return line + translation.body_start_line - 1
    return translation.body_start_line


def check_links(
    translation: Translation,
    source: Sop,
    catalog: Catalog,
    by_rel_path: dict[str, Sop],
    translations_by_path: dict[str, Translation],
) -> list[Problem]:
    problems = []
    here = posixpath.dirname(translation.rel_path)
    readable_by_t1 = source.visible_to("T1")
    for link in extract_links(translation):
        parts = urlsplit(link.target)
        if parts.scheme or parts.netloc:
            continue
        path, anchor = unquote(parts.path), unquote(parts.fragment)
        if not path:
            target: Sop | None = source
        else:
            resolved = posixpath.normpath(posixpath.join(here, path))
            if resolved.startswith("../") or resolved == "..":
                problems.append(
                    Problem.error(translation.path, link.line, f"link {link.target} points outside the SOP directory")
                )
                continue
            if not resolved.endswith(".md"):
                if not (catalog.root / resolved).exists():
                    problems.append(
                        Problem.error(
                            translation.path, link.line, f"link {link.target} points to a file that does not exist"
                        )
                    )
                continue
            match = TRANSLATION_FILE.match(PurePosixPath(resolved).name)
            if match:
                other = translations_by_path.get(resolved)
                if other is None:
                    problems.append(
                        Problem.error(
                            translation.path,
                            link.line,
                            f"link {link.target} points to a translation that does not exist: link the source file instead",
                        )
                    )
                    continue
                if other.language != translation.language:
                    problems.append(
                        Problem.error(
                            translation.path,
                            link.line,
                            f"link {link.target} leaves the language: a {translation.language} translation links to "
                            f"{translation.language} translations or to sources",
                        )
                    )
                    continue
                target = catalog.get(other.sop_id)
            else:
                target = by_rel_path.get(resolved)
            if target is None:
                problems.append(
                    Problem.error(
                        translation.path, link.line, f"link {link.target} points to {resolved}, which does not exist"
                    )
                )
                continue
        if target is None:  # the source's own checks report a link to nowhere
            continue
        t1_context = readable_by_t1 and not link.in_t2_block
        if t1_context and not target.visible_to("T1"):
            problems.append(
                Problem.error(
                    translation.path,
                    link.line,
                    f"link to {target.id}, which is t2_only, from text Tier 1 can read (move the link into a '/// tier | T2' block)",
                )
            )
            continue
        if anchor:
            if anchor not in {s.anchor for s in target.sections}:
                problems.append(
                    Problem.error(
                        translation.path, link.line, f"link {link.target}: {target.id} has no section #{anchor}"
                    )
                )
            elif t1_context and anchor not in {s.anchor for s in target.sections_for("T1")}:
                problems.append(
                    Problem.error(
                        translation.path,
                        link.line,
                        f"link {link.target}: section #{anchor} of {target.id} is Tier 2 only, but the link is in text Tier 1 can read",
                    )
                )
    return problems


def check_direction(translation: Translation) -> list[Problem]:
    """The site sets the page direction from the language; text must not force the other one."""
    want = direction(translation.language)
    problems: list[Problem] = []
    if not _DIR_ATTRIBUTE.search(translation.body):
        return problems
    for number, line in enumerate(translation.body.splitlines(), start=translation.body_start_line):
        for match in _DIR_ATTRIBUTE.finditer(line):
            if match.group(1).lower() != want:
                problems.append(
                    Problem.error(
                        translation.path,
                        number,
                        f'dir="{match.group(1)}" in a {translation.language} translation: {translation.language} is '
                        f"written {'right to left' if want == 'rtl' else 'left to right'} and the site sets the direction",
                    )
                )
    return problems


def check_translation(
    translation: Translation,
    catalog: Catalog,
    by_rel_path: dict[str, Sop],
    lookup: SourceLookup,
    translations_by_path: dict[str, Translation] | None = None,
) -> list[Problem]:
    path = translation.path
    problems: list[Problem] = []
    language_ok = is_iso639_1(translation.language)
    if not language_ok:
        problems.append(
            Problem.error(
                path,
                translation.line_of("language"),
                f"language {translation.language!r} is not an ISO 639-1 code (two lower-case letters, for example es, tl, ar)",
            )
        )
    elif translation.language == SOURCE_LANGUAGE:
        problems.append(
            Problem.error(
                path,
                translation.line_of("language"),
                f"language {SOURCE_LANGUAGE} is the source language: edit the SOP itself",
            )
        )
    source = catalog.get(translation.sop_id)
    if source is None:
        problems.append(
            Problem.error(
                path,
                translation.line_of("translation_of"),
                f"translation_of names {translation.sop_id}, which does not exist (or has errors of its own)",
            )
        )
        return problems
    name = PurePosixPath(translation.rel_path).name
    expected = f"{PurePosixPath(source.rel_path).stem}.{translation.language}.md"
    expected_path = (PurePosixPath(source.rel_path).parent / expected).as_posix()
    if translation.rel_path and translation.rel_path != expected_path:
        problems.append(
            Problem.error(
                path,
                translation.line_of("translation_of"),
                f"a {translation.language} translation of {source.id} is named {expected_path} (beside its source), not {translation.rel_path or name}",
            )
        )
    versions = [c.version for c in source.changelog]
    if translation.source_version not in versions:
        problems.append(
            Problem.error(
                path,
                translation.line_of("source_version"),
                f"source_version {translation.source_version}: {source.id} never had that version (its versions: {', '.join(versions)})",
            )
        )
        return problems
    _, block_problems = find_tier_blocks(translation.body, path, translation.body_start_line - 1)
    problems.extend(block_problems)
    if block_problems:
        return problems
    reference = lookup(source, translation.source_version)
    if reference is None:
        problems.append(
            Problem.warning(
                path,
                translation.line_of("source_version"),
                f"cannot check sections and tier blocks: the text of {source.id} v{translation.source_version} is not in git history",
            )
        )
    else:
        problems.extend(check_structure(translation, reference))
    if translations_by_path is None:
        translations_by_path = {t.rel_path: t for t in catalog.translations.values()}
    problems.extend(check_links(translation, source, catalog, by_rel_path, translations_by_path))
    if language_ok:
        problems.extend(check_direction(translation))
    if not translation.body.strip():
        problems.append(Problem.error(path, translation.body_start_line, "the body is empty"))
    return problems


def validate_translations(catalog: Catalog, lookup: SourceLookup | None = None) -> list[Problem]:
    lookup = lookup or history_lookup(catalog)
    by_rel_path = {sop.rel_path: sop for sop in catalog}
    translations_by_path = {t.rel_path: t for t in catalog.translations.values()}
    problems: list[Problem] = []
    for translation in list(catalog.translations.values()) + catalog.translation_duplicates:
        problems.extend(check_translation(translation, catalog, by_rel_path, lookup, translations_by_path))
    return problems

"""Highlighted snippets: a window of a section's text around the words that matched.

The text is HTML-escaped; the only markup in a snippet is our own `<mark>` around matches, so
a page can insert it as-is and a section quoting `<script>` shows the text, not a script.
"""

from __future__ import annotations

from html import escape
from typing import Iterable

from kb_app.search.analysis import stem_spans

SNIPPET_CHARS = 220
ELLIPSIS = "\u2026"


def snippet(text: str, stems: set[str], phrases: Iterable[tuple[str, ...]] = (), max_chars: int = SNIPPET_CHARS) -> str:
    """Escaped text around the best cluster of matches; words of a phrase are marked only together."""
    flat = " ".join(text.split())
    if not flat:
        return ""
    marks = _marks(flat, stems, phrases)
    start, end = _window(flat, marks, max_chars)
    out = [ELLIPSIS if start > 0 else ""]
    cursor = start
    for mark_start, mark_end, _ in marks:
        if mark_start < start or mark_end > end:
            continue
        out.append(escape(flat[cursor:mark_start], quote=False))
        out.append(f"<mark>{escape(flat[mark_start:mark_end], quote=False)}</mark>")
        cursor = mark_end
    out.append(escape(flat[cursor:end], quote=False))
    out.append(ELLIPSIS if end < len(flat) else "")
    return "".join(out)


def _marks(text: str, stems: set[str], phrases: Iterable[tuple[str, ...]]) -> list[tuple[int, int, str]]:
    """(start, end, what matched) of each marked stretch; adjacent marked words are merged."""
    phrases = list(phrases)
    prefixes = frozenset(s[:2] for s in stems) | frozenset(s[:2] for phrase in phrases for s in phrase)
    spans = stem_spans(text, prefixes)
    marked = [span[0] in stems for span in spans]
    starts: dict[str, list[int]] = {}
    for position, (span_stem, _, _) in enumerate(spans):
        starts.setdefault(span_stem, []).append(position)
    for phrase in phrases:
        for position in starts.get(phrase[0], ()):
            if tuple(s for s, _, _ in spans[position : position + len(phrase)]) == phrase:
                for covered in range(position, position + len(phrase)):
                    marked[covered] = True
    merged: list[tuple[int, int, str]] = []
    for (span_stem, start, end), is_marked in zip(spans, marked):
        if not is_marked:
            continue
        if merged and text[merged[-1][1] : start].strip(" -") == "":
            merged[-1] = (merged[-1][0], end, merged[-1][2] + " " + span_stem)
        else:
            merged.append((start, end, span_stem))
    return merged


def _window(text: str, marks: list[tuple[int, int, str]], max_chars: int) -> tuple[int, int]:
    """The stretch of at most `max_chars` holding the most distinct matches (earliest wins)."""
    if len(text) <= max_chars:
        return 0, len(text)
    best = (0, 0, 0)  # (distinct matches, -start, start)
    for index, (first_start, _, _) in enumerate(marks):
        distinct = set()
        for _mark_start, mark_end, what in marks[index:]:
            if mark_end - first_start > max_chars:
                break
            distinct.add(what)
        candidate = (len(distinct), -first_start, first_start)
        if candidate[:2] > best[:2]:
            best = candidate
    first_mark = best[2]
    start = max(0, first_mark - max_chars // 4)  # a little context before the first match
    while 0 < start < first_mark and not text[start - 1].isspace():
        start += 1  # ... starting at a word boundary
    end = min(len(text), start + max_chars)
    while end < len(text) and end > start and not text[end].isspace():
        end -= 1
    if end <= start:
        end = min(len(text), start + max_chars)
    return start, end

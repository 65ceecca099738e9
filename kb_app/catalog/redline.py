"""A word-level redline of rendered SOP text: what an agent reads, not its Markdown.

Both versions are rendered to HTML with the site's Markdown pipeline, cut into tags and words,
and compared with `difflib`. The result is the new page with inserted words in `<ins>` and
deleted words in `<del>`, each announced in words to screen readers (not by colour alone).
Tables and lists stay tables and lists: the new text's structure is kept, and a deleted element
that is whole (a list item, a table row) is shown in place; a deleted fragment that is not
keeps only its words. Callers pass the text as the reader's tier sees it (`text_for_tier`), so
another tier's block never appears, not even as deleted text.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from kb_app.catalog.hashing import normalize_text
from kb_app.catalog.sections import split_sections

VOID = frozenset({"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})
_WORDS = re.compile(r"\s+|[\w'’.,:;-]*\w[\w'’]*|[^\w\s]")
# Where text may not stand on its own, and what to wrap it in there.
_TEXT_HOSTS = {
    "ul": ("li", ""),
    "ol": ("li", ""),
    "table": ("tr", "td"),
    "thead": ("tr", "td"),
    "tbody": ("tr", "td"),
    "tr": ("td", ""),
    "dl": ("dd", ""),
}
# Elements that may only stand inside these parents.
_PARENTS = {
    "li": {"ul", "ol"},
    "tr": {"table", "thead", "tbody"},
    "td": {"tr"},
    "th": {"tr"},
    "dt": {"dl"},
    "dd": {"dl"},
    "thead": {"table"},
    "tbody": {"table"},
}
LABELS = {"ins": ("Inserted: ", " (end of insertion)"), "del": ("Deleted: ", " (end of deletion)")}


@dataclass(frozen=True)
class Token:
    kind: str  # start | end | void | text | space
    tag: str = ""
    attrs: tuple[tuple[str, str | None], ...] = ()
    text: str = ""

    @property
    def key(self) -> str:
        """What two tokens are compared by: a tag with its attributes, a word, any whitespace."""
        if self.kind == "space":
            return " "
        if self.kind == "text":
            return self.text
        return f"<{'/' if self.kind == 'end' else ''}{self.tag} {self.attrs}>"

    def html(self, *, drop_ids: bool = False) -> str:
        if self.kind in ("text", "space"):
            return html.escape(self.text, quote=False)
        if self.kind == "end":
            return f"</{self.tag}>"
        attrs = "".join(
            f" {name}" if value is None else f' {name}="{html.escape(value)}"'
            for name, value in self.attrs
            if not (drop_ids and name == "id")
        )
        return f"<{self.tag}{attrs}>"


class _Tokenizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[Token] = []

    def handle_starttag(self, tag, attrs):
        self.tokens.append(Token("void" if tag in VOID else "start", tag, tuple(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tokens.append(Token("void", tag, tuple(attrs)))

    def handle_endtag(self, tag):
        if tag not in VOID:
            self.tokens.append(Token("end", tag))

    def handle_data(self, data):
        for word in _WORDS.findall(data):
            self.tokens.append(Token("space" if word.isspace() else "text", text=word))


def tokenize(markup: str) -> list[Token]:
    parser = _Tokenizer()
    parser.feed(markup)
    parser.close()
    return parser.tokens


@dataclass
class _Writer:
    """Writes the redline, tracking which elements are open to know where text may stand."""

    out: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)
    inserted: int = 0
    deleted: int = 0

    def keep(self, token: Token) -> None:
        self.out.append(token.html())
        self._track(token)

    def _track(self, token: Token) -> None:
        if token.kind == "start":
            self.stack.append(token.tag)
        elif token.kind == "end" and token.tag in self.stack:
            while self.stack and self.stack.pop() != token.tag:
                pass

    def _mark(self, kind: str, words: list[Token]) -> str:
        start, end = LABELS[kind]
        count = sum(1 for t in words if t.kind == "text" and any(c.isalnum() for c in t.text))
        if kind == "ins":
            self.inserted += count
        else:
            self.deleted += count
        body = "".join(t.html() for t in words)
        return (
            f'<{kind} class="redline-{kind}"><span class="visually-hidden">{start}</span>{body}'
            f'<span class="visually-hidden">{end}</span></{kind}>'
        )

    def _marked_run(self, kind: str, tokens: list[Token], *, structure: bool) -> None:
        """Write `tokens` with each run of words marked; tags too when `structure`."""
        words: list[Token] = []

        def flush() -> None:
            while words and words[-1].kind == "space":
                trailing = words.pop()
                self._flush_words(kind, words)
                self.out.append(trailing.html())
                return
            self._flush_words(kind, words)

        for token in tokens:
            if token.kind in ("text", "space"):
                if token.kind == "space" and not words:
                    self.out.append(token.html())
                else:
                    words.append(token)
                continue
            flush()
            if structure:
                # A deleted element is whole (balanced), so the stack is back where it was after it.
                self.out.append(token.html(drop_ids=kind == "del"))
                self._track(token)
        flush()

    def _flush_words(self, kind: str, words: list[Token]) -> None:
        if not words:
            return
        marked = self._mark(kind, list(words))
        words.clear()
        host = _TEXT_HOSTS.get(self.stack[-1]) if self.stack else None
        if host is None:
            self.out.append(marked)
            return
        outer, inner = host
        inner_open, inner_close = (f"<{inner}>", f"</{inner}>") if inner else ("", "")
        self.out.append(f'<{outer} class="redline-only">{inner_open}{marked}{inner_close}</{outer}>')

    def insert(self, tokens: list[Token]) -> None:
        # New text: its tags are the new page's structure and are always written.
        self._marked_run("ins", tokens, structure=True)

    def delete(self, tokens: list[Token]) -> None:
        # Old text: whole elements keep their shape where they fit; fragments keep their words.
        self._marked_run("del", tokens, structure=self._fits(tokens))

    def _fits(self, tokens: list[Token]) -> bool:
        depth = 0
        parent = self.stack[-1] if self.stack else ""
        for token in tokens:
            if token.kind == "start":
                if depth == 0 and token.tag in _PARENTS and parent not in _PARENTS[token.tag]:
                    return False
                if depth == 0 and token.tag not in _PARENTS and parent in _TEXT_HOSTS:
                    return False
                depth += 1
            elif token.kind == "end":
                depth -= 1
                if depth < 0:
                    return False
            elif token.kind == "text" and depth == 0 and parent in _TEXT_HOSTS:
                return False
        return depth == 0


def _balanced(tokens: list[Token]) -> bool:
    depth = 0
    for token in tokens:
        depth += {"start": 1, "end": -1}.get(token.kind, 0)
        if depth < 0:
            return False
    return depth == 0


def _slid(opcodes, old: list[Token], new: list[Token]) -> list[list]:
    """Deletions and insertions moved, where the text around them allows, onto whole elements.

    `difflib` may cut a removed list item as ". </li><li>Sign out" rather than "<li>Sign out.</li>";
    both are the same change, and the second keeps the list a list."""
    ops = [list(op) for op in opcodes]
    for index, op in enumerate(ops):
        if op[0] not in ("delete", "insert") or index == 0 or index + 1 == len(ops):
            continue
        before, after = ops[index - 1], ops[index + 1]
        if before[0] != "equal" or after[0] != "equal":
            continue
        seq, a, b = (old, op[1], op[2]) if op[0] == "delete" else (new, op[3], op[4])
        if _balanced(seq[a:b]):
            continue
        room_left, room_right = before[2] - before[1], after[2] - after[1]
        shifts = []
        step = 0
        while step < room_left and seq[a - 1 - step].key == seq[b - 1 - step].key:
            step += 1
            shifts.append(-step)
        step = 0
        while step < room_right and b + step < len(seq) and seq[a + step].key == seq[b + step].key:
            step += 1
            shifts.append(step)
        best = next((d for d in sorted(shifts, key=abs) if _balanced(seq[a + d : b + d])), None)
        if best is None:
            continue
        for position in (1, 2, 3, 4):
            op[position] += best
        before[2] += best
        before[4] += best
        after[1] += best
        after[3] += best
    return [op for op in ops if op[0] != "equal" or op[2] > op[1]]


def _grouped(opcodes, new: list[Token]) -> list[list]:
    """Opcodes with changes that only whitespace separates merged into one change, so a
    rewritten phrase reads as the old phrase, then the new one, rather than word by word."""
    out: list[list] = []
    gap: list | None = None  # whitespace after a change, held until we know what follows it
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            if out and out[-1][0] != "equal" and all(t.kind == "space" for t in new[j1:j2]):
                gap = [op, i1, i2, j1, j2]
            else:
                out.append([op, i1, i2, j1, j2])
            continue
        if gap is not None:  # change, whitespace, change: one change
            out[-1][0], out[-1][2], out[-1][4] = "replace", i2, j2
            gap = None
            continue
        out.append([op, i1, i2, j1, j2])
    if gap is not None:
        out.append(gap)
    return out


def redline_html(old_html: str, new_html: str) -> tuple[str, int, int]:
    """The new HTML with words inserted since `old_html` in `<ins>` and those deleted in `<del>`.

    Returns the markup and the number of words inserted and deleted.
    """
    old, new = tokenize(old_html), tokenize(new_html)
    matcher = difflib.SequenceMatcher(None, [t.key for t in old], [t.key for t in new], autojunk=False)
    writer = _Writer()
    for op, i1, i2, j1, j2 in _grouped(_slid(matcher.get_opcodes(), old, new), new):
        if op == "equal":
            for token in new[j1:j2]:
                writer.keep(token)
            continue
        writer.delete(old[i1:i2])
        writer.insert(new[j1:j2])
    return "".join(writer.out), writer.inserted, writer.deleted


def _keys(markup: str) -> list[str]:
    return [t.key for t in tokenize(markup)]


@dataclass(frozen=True)
class SectionRedline:
    anchor: str
    heading: str
    status: str  # added | removed | changed | unchanged
    html: str = ""  # empty for unchanged sections
    words_inserted: int = 0
    words_deleted: int = 0


@dataclass
class Redline:
    sections: list[SectionRedline]

    def with_status(self, status: str) -> list[SectionRedline]:
        return [s for s in self.sections if s.status == status]

    @property
    def changed(self) -> bool:
        return any(s.status != "unchanged" for s in self.sections)


def redline(old_text: str, new_text: str, render: Callable[[str], str]) -> Redline:
    """Compare two Markdown bodies section by section (matched by anchor, in the new order) and
    redline each changed section's rendered HTML. `render` turns Markdown into HTML."""
    old_sections = {s.anchor: s for s in split_sections(normalize_text(old_text))}
    seen: set[str] = set()
    result: list[SectionRedline] = []
    for section in split_sections(normalize_text(new_text)):
        seen.add(section.anchor)
        before = old_sections.get(section.anchor)
        if before is None:
            markup, inserted, _ = redline_html("", render(section.text))
            result.append(SectionRedline(section.anchor, section.heading, "added", markup, inserted, 0))
        elif normalize_text(before.text) == normalize_text(section.text):
            result.append(SectionRedline(section.anchor, section.heading, "unchanged"))
        else:
            old_html, new_html = render(before.text), render(section.text)
            if _keys(old_html) == _keys(new_html):  # a change of source layout only: the reader sees the same
                result.append(SectionRedline(section.anchor, section.heading, "unchanged"))
                continue
            markup, inserted, deleted = redline_html(old_html, new_html)
            result.append(SectionRedline(section.anchor, section.heading, "changed", markup, inserted, deleted))
    for anchor, section in old_sections.items():
        if anchor not in seen:
            markup, _, deleted = redline_html(render(section.text), "")
            result.append(SectionRedline(anchor, section.heading, "removed", markup, 0, deleted))
    return Redline(result)

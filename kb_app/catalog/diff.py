"""Differences between two versions of an SOP: a unified diff and a per-section view."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from kb_app.catalog.hashing import normalize_text
from kb_app.catalog.sections import split_sections


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add" | "remove" | "context" | "skip" (a run of unchanged lines left out)
    text: str


def collapse_context(lines: list[DiffLine], context: int = 3) -> list[DiffLine]:
    """Keep `context` unchanged lines around each change; longer unchanged runs become one
    `skip` line saying how many lines were left out."""
    changed = [i for i, line in enumerate(lines) if line.kind != "context"]
    keep = {j for i in changed for j in range(i - context, i + context + 1)}
    out: list[DiffLine] = []
    skipped = 0
    for i, line in enumerate(lines):
        if i in keep or line.kind != "context":
            if skipped:
                out.append(DiffLine("skip", f"{skipped} unchanged line{'s' if skipped != 1 else ''}"))
                skipped = 0
            out.append(line)
        else:
            skipped += 1
    if skipped:
        out.append(DiffLine("skip", f"{skipped} unchanged line{'s' if skipped != 1 else ''}"))
    return out


@dataclass
class SectionChange:
    anchor: str
    heading: str
    status: str  # "added" | "removed" | "changed" | "unchanged"
    lines: list[DiffLine] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "anchor": self.anchor,
            "heading": self.heading,
            "status": self.status,
            "lines": [{"kind": ln.kind, "text": ln.text} for ln in self.lines],
        }


@dataclass
class SopDiff:
    unified: str
    sections: list[SectionChange]

    @property
    def changed(self) -> bool:
        return any(s.status != "unchanged" for s in self.sections)

    def to_dict(self) -> dict:
        return {"unified": self.unified, "sections": [s.to_dict() for s in self.sections]}


def _line_diff(old: str, new: str) -> list[DiffLine]:
    out = []
    old_lines = [ln for ln in old.splitlines() if ln.strip()]
    new_lines = [ln for ln in new.splitlines() if ln.strip()]
    for line in difflib.ndiff(old_lines, new_lines):
        code, text = line[:2], line[2:]
        if code == "+ ":
            out.append(DiffLine("add", text))
        elif code == "- ":
            out.append(DiffLine("remove", text))
        elif code == "  ":
            out.append(DiffLine("context", text))
    return out


def diff_texts(old: str, new: str, *, old_label: str = "old", new_label: str = "new") -> SopDiff:
    """Compare two Markdown bodies. Sections are matched by anchor, in the new text's order."""
    old_n, new_n = normalize_text(old), normalize_text(new)
    unified = "".join(
        difflib.unified_diff(old_n.splitlines(keepends=True), new_n.splitlines(keepends=True), old_label, new_label)
    )
    old_sections = {s.anchor: s for s in split_sections(old_n)}
    new_sections = split_sections(new_n)
    changes: list[SectionChange] = []
    seen = set()
    for section in new_sections:
        seen.add(section.anchor)
        before = old_sections.get(section.anchor)
        if before is None:
            changes.append(
                SectionChange(
                    section.anchor, section.heading, "added", [DiffLine("add", ln) for ln in section.text.splitlines()]
                )
            )
        elif normalize_text(before.text) == normalize_text(section.text):
            changes.append(SectionChange(section.anchor, section.heading, "unchanged"))
        else:
            changes.append(
                SectionChange(
                    section.anchor, section.heading, "changed", collapse_context(_line_diff(before.text, section.text))
                )
            )
    for anchor, section in old_sections.items():
        if anchor not in seen:
            changes.append(
                SectionChange(
                    anchor, section.heading, "removed", [DiffLine("remove", ln) for ln in section.text.splitlines()]
                )
            )
    return SopDiff(unified, changes)

"""`kb validate`: every rule an SOP must meet, all problems reported in one run with file and line."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kb_app.catalog import consistency
from kb_app.catalog.gitrev import GitUnavailable, RevisionCatalog, load_at_revision
from kb_app.catalog.links import extract_links
from kb_app.catalog.model import Catalog, Sop, load_catalog
from kb_app.catalog.schema import Kind, Status, Visibility, parse_version
from kb_app.catalog.sections import find_headings, find_tier_blocks
from kb_app.catalog.translation_rules import validate_translations
from kb_app.problems import Problem

KIND_FOLDERS = {Kind.SOP: "procedures", Kind.ESCALATION: "escalations", Kind.BULLETIN: "bulletins"}


@dataclass
class ValidationReport:
    catalog: Catalog
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors


def _check_kind_rules(sop: Sop) -> list[Problem]:
    problems = []
    p = sop.path
    if sop.visibility is Visibility.T2_ONLY and "T1" in sop.audience.tiers:
        problems.append(
            Problem.error(p, sop.line_of("visibility"), "visibility t2_only cannot have T1 in audience.tiers")
        )
    if sop.kind is Kind.ESCALATION and not sop.steps:
        problems.append(
            Problem.error(
                p,
                sop.line_of("kind"),
                "an escalation path needs `steps` (trigger, from_tier, to_team, channel, sla, required_fields)",
            )
        )
    if sop.kind is not Kind.ESCALATION and sop.steps:
        problems.append(Problem.error(p, sop.line_of("steps"), "only escalation paths (kind: escalation) have `steps`"))
    if sop.kind is Kind.BULLETIN and sop.ack_within is None:
        problems.append(Problem.error(p, sop.line_of("kind"), "a bulletin needs `ack_within` (for example 4h)"))
    if sop.kind is not Kind.BULLETIN:
        for name in ("ack_within", "expires"):
            if name in sop.front.data:
                problems.append(Problem.error(p, sop.line_of(name), f"only bulletins (kind: bulletin) have `{name}`"))
    if sop.review_by < sop.effective:
        problems.append(
            Problem.error(p, sop.line_of("review_by"), f"review_by {sop.review_by} is before effective {sop.effective}")
        )
    if sop.expires is not None and sop.expires.date() < sop.effective:
        problems.append(
            Problem.error(
                p, sop.line_of("expires"), f"expires {sop.expires:%Y-%m-%d} is before effective {sop.effective}"
            )
        )
    return problems


def _check_review_record(sop: Sop) -> list[Problem]:
    """References have unique ids; each review names a version that exists and references listed here."""
    problems = []
    ids: set[str] = set()
    for index, ref in enumerate(sop.references):
        if ref.id in ids:
            problems.append(
                Problem.error(sop.path, sop.line_of("references", index, "id"), f"reference {ref.id} is listed twice")
            )
        ids.add(ref.id)
    versions = {sop.version} | {c.version for c in sop.changelog}
    for index, review in enumerate(sop.reviews):
        if review.version not in versions:
            problems.append(
                Problem.error(
                    sop.path,
                    sop.line_of("reviews", index, "version"),
                    f"review of version {review.version}, which is not in the changelog",
                )
            )
        for position, name in enumerate(review.against):
            if name not in ids:
                problems.append(
                    Problem.error(
                        sop.path,
                        sop.line_of("reviews", index, "against", position),
                        f"review is against {name}, which is not in this SOP's references",
                    )
                )
    return problems


def _check_file_name(sop: Sop) -> list[Problem]:
    problems = []
    name = Path(sop.rel_path or sop.path).name
    expected = f"{sop.id.lower()}.md"
    if name != expected:
        problems.append(
            Problem.error(
                sop.path,
                sop.line_of("id"),
                f"id {sop.id} does not match the file name {name}: name the file {expected}",
            )
        )
    folder = KIND_FOLDERS[sop.kind]
    parts = Path(sop.rel_path).parts if sop.rel_path else ()
    if parts and (len(parts) < 2 or parts[0] != folder):
        problems.append(
            Problem.warning(sop.path, sop.line_of("kind"), f"a {sop.kind.value} belongs in the {folder}/ folder")
        )
    return problems


def _check_changelog(sop: Sop) -> list[Problem]:
    problems = []
    p = sop.path
    entries = sop.changelog
    if entries and entries[0].version != sop.version:
        listed = any(e.version == sop.version for e in entries)
        where = "is not the first (newest) changelog entry" if listed else "has no changelog entry"
        problems.append(
            Problem.error(p, sop.line_of("changelog", 0, "version"), f"current version {sop.version} {where}")
        )
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.version in seen:
            problems.append(
                Problem.error(
                    p, sop.line_of("changelog", index, "version"), f"changelog lists version {entry.version} twice"
                )
            )
        seen.add(entry.version)
        if index == 0:
            continue
        newer = entries[index - 1]
        if parse_version(entry.version) >= parse_version(newer.version):
            problems.append(
                Problem.error(
                    p,
                    sop.line_of("changelog", index, "version"),
                    f"changelog is not ordered newest first: {entry.version} comes after {newer.version}",
                )
            )
        elif entry.date > newer.date:
            problems.append(
                Problem.error(
                    p,
                    sop.line_of("changelog", index, "date"),
                    f"changelog dates go backwards: {entry.version} ({entry.date}) is dated after {newer.version} ({newer.date})",
                )
            )
    return problems


def _check_body(sop: Sop) -> list[Problem]:
    problems = []
    _, block_problems = find_tier_blocks(sop.body, sop.path, sop.body_start_line - 1)
    problems.extend(block_problems)
    seen: dict[str, int] = {}
    offset = sop.body_start_line - 1
    for heading in find_headings(sop.body):
        line = heading.line + offset
        if heading.level == 1:
            problems.append(
                Problem.warning(
                    sop.path,
                    line,
                    "level-1 heading in the body: the title comes from the front matter, start sections at ##",
                )
            )
        if heading.requested in seen:
            problems.append(
                Problem.error(
                    sop.path,
                    line,
                    f"heading anchor #{heading.requested} is used twice (first on line {seen[heading.requested]}); give one an explicit {{#anchor}}",
                )
            )
        else:
            seen[heading.requested] = line
    if not sop.body.strip():
        problems.append(Problem.error(sop.path, sop.body_start_line, "the body is empty"))
    return problems


def _check_references(sop: Sop, catalog: Catalog) -> list[Problem]:
    problems = []
    readable_by_t1 = sop.visible_to("T1")
    for field_name in ("related", "escalation"):
        for index, ref in enumerate(getattr(sop, field_name)):
            line = sop.line_of(field_name, index)
            target = catalog.get(ref)
            if target is None:
                problems.append(Problem.error(sop.path, line, f"{field_name} names {ref}, which does not exist"))
                continue
            if ref == sop.id:
                problems.append(Problem.error(sop.path, line, f"{field_name} names the SOP itself"))
            if field_name == "escalation" and target.kind is not Kind.ESCALATION:
                problems.append(
                    Problem.error(
                        sop.path,
                        line,
                        f"escalation names {ref}, which is a {target.kind.value}, not an escalation path",
                    )
                )
            if readable_by_t1 and not target.visible_to("T1"):
                problems.append(
                    Problem.error(
                        sop.path, line, f"{field_name} names {ref}, which is t2_only, from a page Tier 1 can read"
                    )
                )
            if target.status is Status.RETIRED and sop.status is Status.ACTIVE:
                problems.append(Problem.warning(sop.path, line, f"{field_name} names {ref}, which is retired"))
    return problems


def _check_links(sop: Sop, catalog: Catalog, by_rel_path: dict[str, Sop]) -> list[Problem]:
    problems = []
    here = posixpath.dirname(sop.rel_path)
    readable_by_t1 = sop.visible_to("T1")
    for link in extract_links(sop):
        parts = urlsplit(link.target)
        if parts.scheme or parts.netloc:
            continue  # external links are not ours to check
        path, anchor = unquote(parts.path), unquote(parts.fragment)
        if not path:
            target = sop
        else:
            resolved = posixpath.normpath(posixpath.join(here, path))
            if resolved.startswith("../") or resolved == "..":
                problems.append(
                    Problem.error(sop.path, link.line, f"link {link.target} points outside the SOP directory")
                )
                continue
            if not resolved.endswith(".md"):
                if not (catalog.root / resolved).exists():
                    problems.append(
                        Problem.error(sop.path, link.line, f"link {link.target} points to a file that does not exist")
                    )
                continue
            target = by_rel_path.get(resolved)
            if target is None:
                why = "which has errors of its own" if (catalog.root / resolved).is_file() else "which does not exist"
                problems.append(Problem.error(sop.path, link.line, f"link {link.target} points to {resolved}, {why}"))
                continue
        t1_context = readable_by_t1 and not link.in_t2_block
        if t1_context and not target.visible_to("T1"):
            problems.append(
                Problem.error(
                    sop.path,
                    link.line,
                    f"link to {target.id}, which is t2_only, from text Tier 1 can read (move the link into a '/// tier | T2' block)",
                )
            )
            continue
        if anchor:
            anchors = {s.anchor for s in target.sections}
            if anchor not in anchors:
                problems.append(
                    Problem.error(sop.path, link.line, f"link {link.target}: {target.id} has no section #{anchor}")
                )
            elif t1_context and anchor not in {s.anchor for s in target.sections_for("T1")}:
                problems.append(
                    Problem.error(
                        sop.path,
                        link.line,
                        f"link {link.target}: section #{anchor} of {target.id} is Tier 2 only, but the link is in text Tier 1 can read",
                    )
                )
    return problems


def _check_against_git(catalog: Catalog, revision: str, previous: RevisionCatalog | None = None) -> list[Problem]:
    if previous is None:
        try:
            previous = load_at_revision(catalog.root, revision)
        except GitUnavailable as error:
            return [Problem.warning(str(catalog.root), 1, f"cannot compare with git revision {revision}: {error}")]
    problems = []
    for sop in catalog:
        old = previous.sops.get(sop.id)
        if old is None:
            continue
        line = sop.line_of("version")
        if parse_version(sop.version) < parse_version(old.version):
            problems.append(
                Problem.error(sop.path, line, f"version went backwards: {old.version} at {revision}, {sop.version} now")
            )
        elif sop.content_hash != old.content_hash and sop.version == old.version:
            problems.append(
                Problem.error(
                    sop.path,
                    line,
                    f"text of {sop.id} changed since {revision} but version is still {sop.version}: bump the minor for an editorial fix or the major for a material change",
                )
            )
    return problems


def validate_catalog(
    catalog: Catalog,
    *,
    against: str | None = "HEAD",
    today: date | None = None,
    previous: RevisionCatalog | None = None,
) -> ValidationReport:
    """Run every rule. `against=None` skips the comparison with git; `previous` is the catalog at
    `against` when the caller has already read it."""
    today = today or date.today()
    report = ValidationReport(catalog, list(catalog.problems))
    by_rel_path = {sop.rel_path: sop for sop in catalog}
    for sop in list(catalog) + catalog.duplicates:
        report.problems.extend(_check_file_name(sop))
    for sop in catalog:
        report.problems.extend(_check_kind_rules(sop))
        report.problems.extend(_check_changelog(sop))
        report.problems.extend(_check_review_record(sop))
        report.problems.extend(_check_body(sop))
        report.problems.extend(_check_references(sop, catalog))
        report.problems.extend(_check_links(sop, catalog, by_rel_path))
        report.problems.extend(consistency.check_markers(sop, catalog.facts))
        report.problems.extend(consistency.check_steps(sop))
        report.problems.extend(consistency.check_stated_times(sop, catalog, by_rel_path))
        report.problems.extend(consistency.check_required_fields(sop, catalog, by_rel_path))
        if sop.review_by < today and sop.status is not Status.RETIRED:
            report.problems.append(
                Problem.warning(
                    sop.path,
                    sop.line_of("review_by"),
                    f"stale: review_by {sop.review_by} has passed; review the SOP and move the date",
                )
            )
    report.problems.extend(validate_translations(catalog))
    if against:
        report.problems.extend(_check_against_git(catalog, against, previous))
    report.problems.sort()
    return report


def validate(sop_dir: Path | str, *, against: str | None = "HEAD", today: date | None = None) -> ValidationReport:
    return validate_catalog(load_catalog(sop_dir), against=against, today=today)

"""Loading SOP files into `Sop` objects and the `Catalog` of all of them."""

from __future__ import annotations

import hashlib

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError

from kb_app.catalog import frontmatter
from kb_app.catalog.facts import FactBook, apply_facts, load_facts, step_index
from kb_app.catalog.hashing import content_hash, readable_text
from kb_app.catalog.schema import (
    Audience,
    ChangelogEntry,
    EscalationStep,
    FrontMatterModel,
    Reference,
    Review,
    Kind,
    Status,
    Visibility,
    parse_duration,
    parse_version,
)
from kb_app.catalog.sections import Section, split_sections, text_for_tier
from kb_app.catalog.translations import Translation, is_translation_file, load_translation
from kb_app.problems import InputError, Problem

SKIPPED_FILES = {"README.md"}


@dataclass(frozen=True)
class ChangelogItem:
    version: str
    date: date
    summary: str
    ack_required: bool


@dataclass
class Sop:
    id: str
    title: str
    kind: Kind
    version: str
    status: Status
    owner: str
    audience: Audience
    visibility: Visibility
    effective: date
    review_by: date
    tags: list[str]
    related: list[str]
    escalation: list[str]
    changelog: list[ChangelogItem]
    steps: list[EscalationStep]
    ack_within: timedelta | None
    expires: datetime | None
    path: str
    body: str
    front: frontmatter.FrontMatter = field(repr=False)
    rel_path: str = ""  # path inside the SOP directory, posix style (e.g. procedures/ato-recovery.md)
    # Sources and review records: shown on the page, not part of the text an agent acknowledges.
    references: list[Reference] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    # `body` has fact markers rendered (what agents read); `source_body` is the file as written.
    source_body: str = field(default="", repr=False)
    facts: FactBook | None = field(default=None, repr=False)

    @property
    def major(self) -> int:
        return parse_version(self.version)[0]

    @property
    def minor(self) -> int:
        return parse_version(self.version)[1]

    @property
    def body_start_line(self) -> int:
        return self.front.body_start_line

    def line_of(self, *loc) -> int:
        return self.front.line_of(loc)

    @property
    def review_state(self) -> str:
        """`current` when a recorded review covers the current major version, `stale` when the
        last review is of an older major (a material change since), `never` without a review."""
        if not self.reviews:
            return "never"
        reviewed = max(parse_version(r.version) for r in self.reviews)
        return "current" if reviewed[0] >= self.major else "stale"

    def visible_to(self, tier: str) -> bool:
        """Tier 2 may read everything; Tier 1 never reads a `t2_only` page."""
        return tier == "T2" or self.visibility is Visibility.ALL

    def text_for(self, tier: str | None) -> str:
        return text_for_tier(self.body, tier)

    def steps_data(self, *, with_ids: bool = False) -> list[dict]:
        """The steps as agents read them. Unset optional fields stay out, so adding a field to the
        schema changes no hash; step ids are authoring handles for markers, not text agents read."""
        return [step.model_dump(exclude_none=True, exclude=None if with_ids else {"id"}) for step in self.steps]

    @cached_property
    def sections(self) -> list[Section]:
        """Sections of the source text (every tier block included), with file line numbers."""
        offset = self.body_start_line - 1
        return [Section(s.anchor, s.heading, s.level, s.text, s.line + offset) for s in split_sections(self.body)]

    def sections_for(self, tier: str) -> list[Section]:
        """Sections of the text as a reader of `tier` sees it (lines are of that text)."""
        cache = self.__dict__.setdefault("_sections_by_tier", {})
        if tier not in cache:
            cache[tier] = split_sections(self.text_for(tier))
        return cache[tier]

    @cached_property
    def readable_text(self) -> str:
        return readable_text(self.title, self.body, self.steps_data())

    @cached_property
    def content_hash(self) -> str:
        """Hash of the full text of this version (every tier's part): changes iff the text changes."""
        return content_hash(self.readable_text)

    def readable_text_for(self, tier: str) -> str:
        return readable_text(self.title, self.text_for(tier), self.steps_data())

    def content_hash_for(self, tier: str) -> str:
        """Hash of exactly what a reader of `tier` sees; an acknowledgement stores this one."""
        return content_hash(self.readable_text_for(tier))

    def is_open_bulletin(self, now: datetime) -> bool:
        return (
            self.kind is Kind.BULLETIN and self.status is Status.ACTIVE and (self.expires is None or now < self.expires)
        )

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind.value,
            "version": self.version,
            "status": self.status.value,
            "owner": self.owner,
            "audience": self.audience.model_dump(),
            "visibility": self.visibility.value,
            "effective": self.effective.isoformat(),
            "review_by": self.review_by.isoformat(),
            "tags": list(self.tags),
            "related": list(self.related),
            "escalation": list(self.escalation),
            "content_hash": self.content_hash,
            "content_hash_by_tier": {tier: self.content_hash_for(tier) for tier in self.audience.tiers},
            "path": self.path,
            "sections": [s.to_dict() for s in self.sections],
            "changelog": [
                {"version": c.version, "date": c.date.isoformat(), "summary": c.summary, "ack_required": c.ack_required}
                for c in self.changelog
            ],
            "steps": self.steps_data(with_ids=True),
            "references": [r.model_dump(exclude_none=True) for r in self.references],
            "reviews": [r.model_dump(mode="json", exclude_none=True) for r in self.reviews],
            "review_state": self.review_state,
            "ack_within": self.ack_within.total_seconds() if self.ack_within else None,
            "expires": self.expires.isoformat() if self.expires else None,
        }


def _changelog(entries: list[ChangelogEntry]) -> list[ChangelogItem]:
    items = []
    for index, entry in enumerate(entries):
        older = entries[index + 1] if index + 1 < len(entries) else None
        major_bump = older is None or parse_version(entry.version)[0] != parse_version(older.version)[0]
        required = entry.ack_required if entry.ack_required is not None else major_bump
        items.append(ChangelogItem(entry.version, entry.date, entry.summary, required))
    return items


def _schema_problems(error: ValidationError, front: frontmatter.FrontMatter, path: str) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        field_name = ".".join(str(part) for part in loc) or "front matter"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = f"missing required field `{field_name}`"
        elif item["type"] == "extra_forbidden":
            message = f"unknown field `{field_name}` (see sop/README.md for the fields)"
        else:
            message = f"`{field_name}`: {message}"
        problems.append(Problem.error(path, front.line_of(loc), message))
    return problems


def parse_sop(text: str, path: str) -> Sop:
    """Parse one SOP's text. Raises InputError with every schema problem, each with its line."""
    front = frontmatter.parse(text, path)
    try:
        model = FrontMatterModel.model_validate(front.data)
    except ValidationError as error:
        raise InputError(_schema_problems(error, front, path)) from None
    return Sop(
        id=model.id,
        title=model.title,
        kind=model.kind,
        version=model.version,
        status=model.status,
        owner=model.owner,
        audience=model.audience,
        visibility=model.visibility,
        effective=model.effective,
        review_by=model.review_by,
        tags=list(model.tags),
        related=list(model.related),
        escalation=list(model.escalation),
        changelog=_changelog(list(model.changelog)),
        steps=list(model.steps or []),
        ack_within=parse_duration(model.ack_within) if model.ack_within else None,
        expires=model.expires,
        path=path,
        body=front.body,
        front=front,
        references=list(model.references),
        reviews=list(model.reviews),
        source_body=front.body,
    )


def load_sop(file: Path, display_path: str | None = None) -> Sop:
    path = display_path or str(file)
    return parse_sop(frontmatter.decode(file.read_bytes(), path), path)


@dataclass
class Catalog:
    """Every SOP that loaded, by id, plus the problems of the files that did not."""

    root: Path
    sops: dict[str, Sop] = field(default_factory=dict)
    facts: FactBook = field(default_factory=FactBook)
    problems: list[Problem] = field(default_factory=list)
    duplicates: list[Sop] = field(default_factory=list)
    # (sop_id, language) -> translation; a second file for the same pair goes to `translation_duplicates`.
    translations: dict[tuple[str, str], Translation] = field(default_factory=dict)
    translation_duplicates: list[Translation] = field(default_factory=list)

    def __iter__(self):
        return iter(sorted(self.sops.values(), key=lambda s: s.id))

    def __len__(self) -> int:
        return len(self.sops)

    def get(self, sop_id: str) -> Sop | None:
        return self.sops.get(sop_id)

    def for_tier(self, tier: str) -> list[Sop]:
        return [sop for sop in self if sop.visible_to(tier)]

    def translation(self, sop_id: str, language: str) -> Translation | None:
        return self.translations.get((sop_id, language))

    def translation_languages(self) -> list[str]:
        """Every language at least one translation is written in, sorted."""
        return sorted({language for _, language in self.translations})

    def by_path(self) -> dict[str, Sop]:
        return {sop.path: sop for sop in self.sops.values()}

    def section_anchors(self) -> dict[str, set[str]]:
        return {sop.id: {s.anchor for s in sop.sections if s.anchor} for sop in self}

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)

    @property
    def release_hash(self) -> str:
        """Digest of what a release of this catalog serves: every non-draft SOP's id, version,
        status, visibility, path and content hash, and every translation's source version and
        text. Index and site manifests record it."""
        lines = [
            f"{s.id}\t{s.version}\t{s.status.value}\t{s.visibility.value}\t{s.rel_path or s.path}\t{s.content_hash}"
            for s in self
            if s.status.value != "draft"
        ]
        for (sop_id, language), translation in sorted(self.translations.items()):
            text = hashlib.sha256(translation.body.encode("utf-8")).hexdigest()
            lines.append(f"{sop_id}\t{language}\t{translation.source_version}\t{translation.title}\t{text}")
        return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def sop_files(sop_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in sop_dir.rglob("*.md")
        if p.name not in SKIPPED_FILES and not is_translation_file(p.name) and p.is_file()
    )


def translation_files(sop_dir: Path) -> list[Path]:
    return sorted(p for p in sop_dir.rglob("*.md") if is_translation_file(p.name) and p.is_file())


def display_path(file: Path, sop_dir: Path) -> str:
    """Paths in messages are relative to the working directory when possible."""
    try:
        return str(file.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(file)


def load_catalog(sop_dir: Path | str) -> Catalog:
    sop_dir = Path(sop_dir)
    catalog = Catalog(root=sop_dir)
    if not sop_dir.is_dir():
        catalog.problems.append(
            Problem.error(str(sop_dir), 1, "SOP directory does not exist (set KB_SOP_DIR or --sop-dir)")
        )
        return catalog
    files = sop_files(sop_dir)
    if not files:
        catalog.problems.append(
            Problem.warning(str(sop_dir), 1, "no SOP files (*.md) here: is KB_SOP_DIR or --sop-dir right?")
        )
    for file in files:
        path = display_path(file, sop_dir)
        try:
            sop = load_sop(file, path)
        except InputError as error:
            catalog.problems.extend(error.problems)
            continue
        sop.rel_path = file.relative_to(sop_dir).as_posix()
        if sop.id in catalog.sops:
            catalog.duplicates.append(sop)
            first = catalog.sops[sop.id]
            catalog.problems.append(
                Problem.error(path, sop.line_of("id"), f"duplicate id {sop.id}: already used by {first.path}")
            )
            continue
        catalog.sops[sop.id] = sop
    facts, problems = load_facts(sop_dir, display_path(sop_dir / "facts.yml", sop_dir))
    catalog.facts = FactBook(
        facts, step_index(list(catalog.sops.values())), display_path(sop_dir / "facts.yml", sop_dir)
    )
    catalog.problems.extend(problems)
    apply_facts(list(catalog.sops.values()) + catalog.duplicates, catalog.facts)
    _load_translations(catalog, sop_dir)
    return catalog


def _load_translations(catalog: Catalog, sop_dir: Path) -> None:
    for file in translation_files(sop_dir):
        path = display_path(file, sop_dir)
        try:
            translation = load_translation(file, path)
        except InputError as error:
            catalog.problems.extend(error.problems)
            continue
        translation.rel_path = file.relative_to(sop_dir).as_posix()
        key = (translation.sop_id, translation.language)
        if key in catalog.translations:
            first = catalog.translations[key]
            catalog.translation_duplicates.append(translation)
            catalog.problems.append(
                Problem.error(
                    path,
                    translation.line_of("language"),
                    f"second {translation.language} translation of {translation.sop_id}: already translated by {first.path}",
                )
            )
            continue
        catalog.translations[key] = translation

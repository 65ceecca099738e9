"""Translations of SOPs: files beside their source (`ato-recovery.es.md`), parsed and hashed.

A translation names the source SOP, the source version it translates, its ISO 639-1 language
and who translated and reviewed it (see sop/README.md). Its body keeps the source's section
anchors and tier blocks, so the rules about Tier 2-only text apply to it unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kb_app.catalog import frontmatter
from kb_app.catalog.hashing import content_hash, readable_text
from kb_app.catalog.schema import VersionStr, parse_version
from kb_app.catalog.sections import Section, split_sections, text_for_tier
from kb_app.problems import InputError, Problem

# `<source file stem>.<language>.md`: SOP ids (and so SOP file stems) never contain a dot.
TRANSLATION_FILE = re.compile(r"^(?P<stem>[^.]+)\.(?P<language>[^.]+)\.md$")


def is_translation_file(name: str) -> bool:
    return TRANSLATION_FILE.match(name) is not None


class TranslationFrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    translation_of: str = Field(min_length=1)
    source_version: VersionStr
    language: str = Field(min_length=1)
    title: str = Field(min_length=1)
    translated_by: str = Field(min_length=1)
    reviewed_by: str = Field(min_length=1)
    translated_on: date
    reviewed_on: date | None = None

    @field_validator("source_version")
    @classmethod
    def _version(cls, value: str) -> str:
        parse_version(value)
        return value


@dataclass
class Translation:
    sop_id: str
    source_version: str
    language: str
    title: str
    translated_by: str
    reviewed_by: str
    translated_on: date
    reviewed_on: date | None
    path: str  # as shown in messages
    body: str
    front: frontmatter.FrontMatter = field(repr=False)
    rel_path: str = ""  # inside the SOP directory, posix style

    @property
    def source_major(self) -> int:
        return parse_version(self.source_version)[0]

    @property
    def source_minor(self) -> int:
        return parse_version(self.source_version)[1]

    @property
    def body_start_line(self) -> int:
        return self.front.body_start_line

    def line_of(self, *loc) -> int:
        return self.front.line_of(loc)

    def text_for(self, tier: str | None) -> str:
        return text_for_tier(self.body, tier)

    @cached_property
    def sections(self) -> list[Section]:
        offset = self.body_start_line - 1
        return [Section(s.anchor, s.heading, s.level, s.text, s.line + offset) for s in split_sections(self.body)]

    def sections_for(self, tier: str) -> list[Section]:
        cache = self.__dict__.setdefault("_sections_by_tier", {})
        if tier not in cache:
            cache[tier] = split_sections(self.text_for(tier))
        return cache[tier]

    def readable_text_for(self, tier: str) -> str:
        return readable_text(self.title, self.text_for(tier))

    def content_hash_for(self, tier: str) -> str:
        """Hash of the translated text a reader of `tier` sees; an acknowledgement in this language stores it."""
        return content_hash(self.readable_text_for(tier))

    @cached_property
    def content_hash(self) -> str:
        return content_hash(readable_text(self.title, self.body))

    def to_dict(self) -> dict:
        return {
            "sop_id": self.sop_id,
            "language": self.language,
            "source_version": self.source_version,
            "title": self.title,
            "translated_by": self.translated_by,
            "reviewed_by": self.reviewed_by,
            "translated_on": self.translated_on.isoformat(),
            "reviewed_on": self.reviewed_on.isoformat() if self.reviewed_on else None,
            "path": self.path,
            "content_hash": self.content_hash,
        }


def _problems(error: ValidationError, front: frontmatter.FrontMatter, path: str) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        name = ".".join(str(part) for part in loc) or "front matter"
        if item["type"] == "missing":
            message = f"missing required field `{name}` of a translation"
        elif item["type"] == "extra_forbidden":
            message = f"unknown field `{name}` in a translation (see sop/README.md, Translations)"
        else:
            message = f"`{name}`: {item['msg'].removeprefix('Value error, ')}"
        problems.append(Problem.error(path, front.line_of(loc), message))
    return problems


def parse_translation(text: str, path: str) -> Translation:
    front = frontmatter.parse(text, path)
    try:
        model = TranslationFrontMatter.model_validate(front.data)
    except ValidationError as error:
        raise InputError(_problems(error, front, path)) from None
    return Translation(
        sop_id=model.translation_of,
        source_version=model.source_version,
        language=model.language,
        title=model.title,
        translated_by=model.translated_by,
        reviewed_by=model.reviewed_by,
        translated_on=model.translated_on,
        reviewed_on=model.reviewed_on,
        path=path,
        body=front.body,
        front=front,
    )


def load_translation(file: Path, display_path: str) -> Translation:
    return parse_translation(frontmatter.decode(file.read_bytes(), display_path), display_path)

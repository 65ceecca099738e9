"""Load and validate question banks (`quizzes/*.yml`), reporting every problem as `path:line`.

Entry points:

- `validate_banks(quiz_dir, sections, versions=None) -> list[Problem]`: every problem in every
  bank file. `sections` maps each SOP id to the set of its section anchors (for example
  `catalog.section_anchors()`); `versions` optionally maps each SOP id to the versions that exist
  (current and changelog) so an update bank's version can be checked; None skips that rule.
  `visible` optionally maps each tier to the SOP ids that tier may read (`visible_by_tier(catalog)`),
  so a T1 bank cannot cite a `t2_only` SOP; None skips that rule.
- `read_banks(quiz_dir, sections=None, versions=None, visible=None) -> BankSet`: the banks that loaded plus the
  problems. With `sections=None` the cross-checks against the SOP catalog are skipped.
- `load_banks(...)` is `read_banks` that raises `InputError` when any error was found.
- `parse_bank(raw_bytes, path, ...) -> (Bank | None, problems)` for a single file's bytes.

Nothing here raises on bad input: malformed YAML, an empty file, non-UTF-8 bytes and schema
errors all become problems.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kb_app.problems import InputError, Problem
from kb_app.quizzes import quality
from kb_app.quizzes.normalize import normalize_text
from kb_app.quizzes.schema import (
    QUESTION_TYPES,
    Bank,
    MultipleResponse,
    Ordering,
    ShortAnswer,
    SingleChoice,
    _ChoiceQuestion,
    bank_to_data,
)
from kb_app.quizzes.item_rules import check_item_types
from kb_app.quizzes.yaml_source import Loc, YamlSource, read_yaml

BANK_SUFFIXES = (".yml", ".yaml")
WEIGHT_TOLERANCE = 0.01  # percent; 3 x 33.33333 must count as 100

Sections = Mapping[str, Iterable[str]]
Versions = Mapping[str, Iterable[str]]
Visible = Mapping[str, Iterable[str]]


@dataclass
class BankSet:
    """The banks that loaded (by id), the file each came from, and every problem found."""

    banks: dict[str, Bank] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)


def bank_files(quiz_dir: Path) -> list[Path]:
    quiz_dir = Path(quiz_dir)
    if not quiz_dir.is_dir():
        return []
    return sorted(p for p in quiz_dir.iterdir() if p.suffix in BANK_SUFFIXES and p.is_file())


def display_path(file: Path) -> str:
    try:
        return str(file.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(file)


def read_banks(
    quiz_dir: Path, sections: Sections | None = None, versions: Versions | None = None, visible: Visible | None = None
) -> BankSet:
    result = BankSet()
    for file in bank_files(quiz_dir):
        path = display_path(file)
        bank, problems, source = _parse(file.read_bytes(), path, sections, versions, visible)
        result.problems.extend(problems)
        if bank is None:
            continue
        if bank.id in result.banks:
            result.problems.append(
                Problem.error(
                    path,
                    source.line_of(("id",)),
                    f"duplicate bank id `{bank.id}`: already used by {result.paths[bank.id]}",
                )
            )
            continue
        result.banks[bank.id] = bank
        result.paths[bank.id] = path
    result.problems.sort()
    return result


def validate_banks(
    quiz_dir: Path, sections: Sections, versions: Versions | None = None, visible: Visible | None = None
) -> list[Problem]:
    """Every problem in the banks under quiz_dir, checked against the SOP sections (and versions)."""
    return read_banks(quiz_dir, sections=sections, versions=versions, visible=visible).problems


def load_banks(
    quiz_dir: Path, sections: Sections | None = None, versions: Versions | None = None, visible: Visible | None = None
) -> dict[str, Bank]:
    """The banks by id; raises InputError carrying every problem if any bank has an error."""
    result = read_banks(quiz_dir, sections=sections, versions=versions, visible=visible)
    if not result.ok:
        raise InputError(result.problems)
    return result.banks


def parse_bank(
    raw: bytes,
    path: str,
    *,
    sections: Sections | None = None,
    versions: Versions | None = None,
    visible: Visible | None = None,
) -> tuple[Bank | None, list[Problem]]:
    """Parse and check one bank file's bytes. The bank is None when it has any error."""
    bank, problems, _ = _parse(raw, path, sections, versions, visible)
    return bank, problems


def _parse(raw: bytes, path: str, sections, versions, visible) -> tuple[Bank | None, list[Problem], YamlSource]:
    source = copy.deepcopy(_read_yaml(raw, path))
    if source.data is None:
        return None, source.problems, source
    if not isinstance(source.data, dict):
        source.problems.append(
            Problem.error(path, 1, "a question bank must be a mapping of fields (id, title, questions, ...)")
        )
        return None, source.problems, source
    try:
        bank = Bank.model_validate(source.data)
    except ValidationError as error:
        return None, source.problems + schema_problems(error, source), source
    except RecursionError:
        source.problems.append(Problem.error(path, 1, "the bank refers to itself through YAML aliases"))
        return None, source.problems, source
    problems = source.problems + check_bank(bank, source, sections=sections, versions=versions, visible=visible)
    if any(p.is_error for p in problems):
        return None, problems, source
    return bank, problems, source


class SectionIndex(dict):
    """SOP id -> its section anchors, plus what the quality rules need: `texts[tier][sop][anchor]`,
    the section text as that tier reads it, and `current[sop]`, the SOP's current version."""

    def __init__(self, anchors=(), texts: quality.SectionTexts | None = None, current: dict | None = None):
        super().__init__(anchors)
        self.texts = texts or {}
        self.current = current or {}


@lru_cache(maxsize=256)
def _read_yaml(raw: bytes, path: str) -> YamlSource:
    """Parsing is the slow part of validating a bank; `kb preview` re-validates unchanged files on
    every save, so a file's parse is kept by its bytes (callers get a copy to add problems to)."""
    return read_yaml(raw, path)


def catalog_index(catalog: Any) -> tuple[SectionIndex, dict[str, set[str]]]:
    """`(sections, versions)` from a loaded SOP catalog (duck-typed: `.sops`, `.sections`, `.changelog`)."""
    anchors: dict[str, set[str]] = {}
    texts: dict[str, dict[str, dict[str, str]]] = {"T1": {}, "T2": {}}
    current: dict[str, str] = {}
    versions: dict[str, set[str]] = {}
    for sop_id, sop in catalog.sops.items():
        anchors[sop_id] = {s.anchor for s in sop.sections if s.anchor}
        versions[sop_id] = {sop.version} | {entry.version for entry in getattr(sop, "changelog", [])}
        current[sop_id] = sop.version
        if hasattr(sop, "sections_for"):
            for tier, by_sop in texts.items():
                if sop.visible_to(tier):
                    by_sop[sop_id] = {s.anchor: s.text for s in sop.sections_for(tier) if s.anchor}
    return SectionIndex(anchors, texts, current), versions


def visible_by_tier(catalog: Any) -> dict[str, set[str]]:
    """Tier -> ids of the SOPs that tier may read (Tier 1 never reads `t2_only` SOPs)."""
    return {tier: {sop_id for sop_id, sop in catalog.sops.items() if sop.visible_to(tier)} for tier in ("T1", "T2")}


# --- schema errors -------------------------------------------------------------------------


def describe_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "bank"


def _data_loc(loc: tuple, data: Any) -> Loc:
    """pydantic adds the union tag (e.g. `single`) to the location of a question's fields; drop it."""
    clean: list[Any] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and part in QUESTION_TYPES and node.get("type") == part:
            continue
        clean.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(clean)


def schema_problems(error: ValidationError, source: YamlSource) -> list[Problem]:
    problems = []
    seen: set[tuple[int, str]] = set()
    for item in error.errors():
        loc = _data_loc(tuple(item["loc"]), source.data)
        name = describe_loc(loc)
        kind = item["type"]
        message = item["msg"].removeprefix("Value error, ")
        line = source.line_of(loc)
        if kind == "missing":
            message = f"missing required field `{name}`"
        elif kind == "extra_forbidden":
            message = f"unknown field `{name}`"
        elif kind == "union_tag_invalid":
            line = source.line_of((*loc, "type"))
            tag = item.get("ctx", {}).get("tag")
            message = f"`{name}`: unknown question type `{tag}` (expected one of: {', '.join(QUESTION_TYPES)})"
        elif kind == "union_tag_not_found":
            message = f"`{name}`: missing `type` (one of: {', '.join(QUESTION_TYPES)})"
        elif kind == "model_type":
            message = f"`{name}`: expected a mapping of fields"
        else:
            if kind == "string_type" and name.endswith("version"):
                message += ' (quote it: "3.0")'
            elif kind == "string_type":
                message += " (put it in quotes)"
            message = f"`{name}`: {message}"
        if (line, message) in seen:
            continue
        seen.add((line, message))
        problems.append(Problem.error(source.path, line, message))
    return problems


# --- rules beyond the schema ---------------------------------------------------------------


def check_bank(
    bank: Bank,
    source: YamlSource,
    *,
    sections: Sections | None = None,
    versions: Versions | None = None,
    visible: Visible | None = None,
) -> list[Problem]:
    path = source.path
    problems: list[Problem] = []

    def error(loc: Loc, message: str) -> None:
        problems.append(Problem.error(path, source.line_of(loc), message))

    def warning(loc: Loc, message: str) -> None:
        problems.append(Problem.warning(path, source.line_of(loc), message))

    if bank.kind == "update":
        if bank.version is None:
            error(("kind",), "an update bank needs `version`: the SOP version it quizzes")
        if len(bank.sops) != 1:
            error(("sops",), f"an update bank covers exactly one SOP, not {len(bank.sops)}")
    elif bank.version is not None:
        error(("version",), "`version` is only for update banks (a certification bank covers current versions)")

    seen_sops: dict[str, int] = {}
    for index, sop_id in enumerate(bank.sops):
        if sop_id in seen_sops:
            error(("sops", index), f"SOP `{sop_id}` is listed twice in `sops`")
        seen_sops.setdefault(sop_id, index)
        if sections is not None and sop_id not in sections:
            error(("sops", index), f"unknown SOP `{sop_id}`")
        elif visible is not None and sop_id not in set(visible.get(bank.tier, ())):
            error(("sops", index), f"a {bank.tier} bank cannot cover `{sop_id}`: {bank.tier} agents cannot read it")
    if versions is not None and bank.kind == "update" and bank.version and bank.sops:
        sop_id = bank.sops[0]
        known = set(versions.get(sop_id, ())) if sop_id in versions else None
        if known is not None and bank.version not in known:
            listed = ", ".join(sorted(known)) or "none"
            error(("version",), f"SOP `{sop_id}` has no version {bank.version} (known: {listed})")

    if bank.questions_per_attempt > len(bank.questions):
        error(
            ("questions_per_attempt",),
            f"questions_per_attempt is {bank.questions_per_attempt} but the bank has only {len(bank.questions)} questions",
        )

    first_id: dict[str, int] = {}
    cited: set[str] = set()
    for index, question in enumerate(bank.questions):
        loc = ("questions", index)
        if question.id in first_id:
            error((*loc, "id"), f"duplicate question id `{question.id}` (first at line {first_id[question.id]})")
        else:
            first_id[question.id] = source.line_of((*loc, "id"))
        _check_source(bank, question, loc, sections, error)
        cited.add(question.sop_id)
        if isinstance(question, _ChoiceQuestion):
            _check_options(bank, question, loc, error)
        elif isinstance(question, Ordering):
            _check_distinct(question.items, (*loc, "items"), "item", error)
        elif isinstance(question, ShortAnswer):
            _check_distinct(question.accepted_texts, (*loc, "accepted"), "accepted answer", error)
    for index, sop_id in enumerate(bank.sops):
        if sop_id not in cited:
            warning(("sops", index), f"no question cites SOP `{sop_id}`")
    problems.extend(check_item_types(bank, path, source.line_of))

    # The quality rules need the text of the SOP sections (a catalog from `catalog_index`); a
    # schema-only check (no SOP directory) or a GIFT import without one skips them.
    texts = getattr(sections, "texts", None)
    if texts:
        quality.check_giveaways(bank, error)
        if not _superseded(bank, getattr(sections, "current", {})):
            quality.check_answerable(bank, texts, warning)
            quality.check_ordering(bank, texts, error)
    return problems


def _superseded(bank: Bank, current: Mapping[str, str]) -> bool:
    """An update bank for an older major version quizzes text that is no longer in force, so its
    questions are not held to the current sections."""
    if bank.kind != "update" or not bank.version or not bank.sops or bank.sops[0] not in current:
        return False
    return bank.version.split(".")[0] != current[bank.sops[0]].split(".")[0]


def _check_source(bank: Bank, question, loc: Loc, sections: Sections | None, error) -> None:
    sop_id, anchor = question.sop_id, question.anchor
    if sop_id not in bank.sops:
        error((*loc, "source"), f"question `{question.id}` cites `{sop_id}`, which the bank does not list in `sops`")
    if sections is None:
        return
    if sop_id not in sections:
        error((*loc, "source"), f"question `{question.id}` cites unknown SOP `{sop_id}`")
    elif anchor not in set(sections[sop_id]):
        error(
            (*loc, "source"),
            f"question `{question.id}` cites `{question.source}`, but SOP `{sop_id}` has no section `#{anchor}`",
        )


def _check_distinct(texts: list[str], loc: Loc, what: str, error) -> None:
    seen: dict[str, int] = {}
    for index, text in enumerate(texts):
        key = normalize_text(text)
        if key in seen:
            error((*loc, index), f"duplicate {what} {text!r} (same as {what} {seen[key] + 1})")
        else:
            seen[key] = index


def _check_options(bank: Bank, question, loc: Loc, error) -> None:
    options_loc = (*loc, "options")
    ids: dict[str, int] = {}
    texts: dict[str, int] = {}
    for index, option in enumerate(question.options):
        if option.id in ids:
            error((*options_loc, index, "id"), f"duplicate option id `{option.id}` in question `{question.id}`")
        ids.setdefault(option.id, index)
        key = normalize_text(option.text)
        if key in texts:
            error(
                (*options_loc, index),
                f"duplicate option {option.text!r} in question `{question.id}` (same as option {texts[key] + 1})",
            )
        texts.setdefault(key, index)

    weighted = isinstance(question, MultipleResponse) and bank.scoring_of(question) == "weighted"
    if not weighted:
        for index, option in enumerate(question.options):
            if option.weight is not None:
                error((*options_loc, index, "weight"), "`weight` is only for multiple questions scored `weighted`")
    correct = [o for o in question.options if o.is_correct]
    if isinstance(question, SingleChoice):
        if not correct:
            error(options_loc, f"question `{question.id}` has no correct answer: mark one option `correct: true`")
        elif len(correct) > 1:
            error(
                options_loc,
                f"single-choice question `{question.id}` has {len(correct)} correct options; exactly one may be "
                "correct (use type: multiple for select-all-that-apply)",
            )
        return
    if not weighted:
        if not correct:
            error(
                options_loc, f"question `{question.id}` has no correct answer: mark at least one option `correct: true`"
            )
        return
    for index, option in enumerate(question.options):
        option_loc = (*options_loc, index)
        if option.weight is None:
            error(option_loc, f"option {index + 1} of weighted question `{question.id}` needs a `weight` (percent)")
        elif option.correct is not None and option.correct != (option.weight > 0):
            error(
                (*option_loc, "correct"),
                f"`correct: {str(option.correct).lower()}` contradicts weight {option.weight:g}%",
            )
    if any(o.weight is None for o in question.options):
        return
    positive = sum(o.weight for o in question.options if o.weight > 0)
    if not correct:
        error(
            options_loc, f"question `{question.id}` has no correct answer: give at least one option a positive weight"
        )
    elif abs(positive - 100) > WEIGHT_TOLERANCE:
        error(options_loc, f"the positive weights of question `{question.id}` add up to {positive:g}%, not 100%")


# --- identity and writing -----------------------------------------------------------------


def bank_hash(bank: Bank) -> str:
    """SHA-256 of the bank's canonical content: an attempt records it to notice later edits."""
    canonical = json.dumps(bank_to_data(bank), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _BankDumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BankDumper.add_representer(str, _represent_str)


def bank_to_yaml(bank: Bank) -> str:
    """The bank as YAML that `parse_bank` reads back to an equal bank."""
    return yaml.dump(bank_to_data(bank), Dumper=_BankDumper, sort_keys=False, allow_unicode=True, width=100)

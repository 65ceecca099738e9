"""Translations of question banks: `quizzes/translations/<bank id>.<language>.yml`.

```yaml
translation_of: cert-t1-account-security   # the bank
language: es                               # ISO 639-1
sop_versions: {ATO-RECOVERY: "4.0"}        # the version of every covered SOP it was translated against
translated_by: ...
reviewed_by: ...
title: Certificación Tier 1
questions:
  first-step:                              # every question id of the bank
    stem: ...
    options: {a: ..., b: ...}              # choice questions: option id -> text
    items: [..., ...]                      # ordering questions: in the bank's order
    explanation: ...
```

The staleness rule of SOP translations applies per covered SOP (the worst state wins); a bank
question without a translation makes the translation stale too. An agent takes a quiz in their
language only when its translation is current or minor-behind; otherwise in the source language.
Grading never depends on the language: option ids, items and the answer key are the bank's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kb_app.catalog.languages import SOURCE_LANGUAGE, is_iso639_1
from kb_app.catalog.schema import VersionStr
from kb_app.catalog.staleness import TranslationState, servable, state_of
from kb_app.problems import Problem
from kb_app.quizzes.schema import Bank, Ordering, _ChoiceQuestion
from kb_app.quizzes.yaml_source import read_yaml

FOLDER = "translations"
FILE_NAME = re.compile(r"^(?P<bank>[a-z0-9-]+)\.(?P<language>[^.]+)\.ya?ml$")
_ORDER = [TranslationState.CURRENT, TranslationState.MINOR_BEHIND, TranslationState.STALE, TranslationState.MISSING]


class QuestionText(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    stem: str = Field(min_length=1)
    explanation: str = Field(min_length=1)
    options: dict[str, str] = {}
    items: list[str] = []


class BankTranslationModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    translation_of: str = Field(min_length=1)
    language: str
    sop_versions: dict[str, VersionStr]
    translated_by: str = Field(min_length=1)
    reviewed_by: str = Field(min_length=1)
    title: str = Field(min_length=1)
    questions: dict[str, QuestionText]


@dataclass
class BankTranslation:
    model: BankTranslationModel
    path: str

    @property
    def bank_id(self) -> str:
        return self.model.translation_of

    @property
    def language(self) -> str:
        return self.model.language


@dataclass
class LoadedTranslations:
    by_key: dict[tuple[str, str], BankTranslation] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def get(self, bank_id: str, language: str) -> BankTranslation | None:
        return self.by_key.get((bank_id, language))


def translation_files(quiz_dir: Path) -> list[Path]:
    folder = Path(quiz_dir) / FOLDER
    return sorted(p for p in folder.glob("*.y*ml") if p.is_file()) if folder.is_dir() else []


def load_translations(
    quiz_dir: Path, banks: dict[str, Bank], sop_versions: dict[str, set[str]] | None = None
) -> LoadedTranslations:
    """Parse and check every bank translation. `sop_versions`: SOP id -> every version it has had
    (None skips that check, which `kb validate` makes)."""
    loaded = LoadedTranslations()
    for file in translation_files(quiz_dir):
        path = str(file)
        source = read_yaml(file.read_bytes(), path)
        loaded.problems.extend(source.problems)
        if source.data is None:
            continue
        try:
            model = BankTranslationModel.model_validate(source.data)
        except ValidationError as error:
            for item in error.errors():
                loc = tuple(item["loc"])
                loaded.problems.append(
                    Problem.error(path, source.line_of(loc), f"`{'.'.join(map(str, loc))}`: {item['msg']}")
                )
            continue
        translation = BankTranslation(model, path)
        problems = check_translation(translation, banks, sop_versions, source.line_of, file.name)
        loaded.problems.extend(problems)
        if any(p.is_error for p in problems):
            continue
        key = (model.translation_of, model.language)
        if key in loaded.by_key:
            loaded.problems.append(
                Problem.error(
                    path,
                    source.line_of(("language",)),
                    f"second {model.language} translation of bank {model.translation_of}: already in {loaded.by_key[key].path}",
                )
            )
            continue
        loaded.by_key[key] = translation
    loaded.problems.sort()
    return loaded


def check_translation(translation: BankTranslation, banks, all_versions, line_of, name: str) -> list[Problem]:
    model, path = translation.model, translation.path
    problems = []
    if not is_iso639_1(model.language) or model.language == SOURCE_LANGUAGE:
        problems.append(
            Problem.error(
                path, line_of(("language",)), f"language {model.language!r} is not an ISO 639-1 code other than en"
            )
        )
    match = FILE_NAME.match(name)
    if not match or match.group("bank") != model.translation_of or match.group("language") != model.language:
        problems.append(
            Problem.error(path, 1, f"name the file {model.translation_of}.{model.language}.yml (bank id and language)")
        )
    bank = banks.get(model.translation_of)
    if bank is None:
        problems.append(
            Problem.error(
                path,
                line_of(("translation_of",)),
                f"translation_of names bank {model.translation_of}, which does not exist",
            )
        )
        return problems
    for sop_id in bank.sops:
        if sop_id not in model.sop_versions:
            problems.append(
                Problem.error(
                    path, line_of(("sop_versions",)), f"sop_versions must name {sop_id}, which the bank covers"
                )
            )
    for sop_id, version in model.sop_versions.items():
        if sop_id not in bank.sops:
            problems.append(Problem.error(path, line_of(("sop_versions", sop_id)), f"the bank does not cover {sop_id}"))
        elif all_versions is not None and version not in all_versions.get(sop_id, set()):
            problems.append(
                Problem.error(path, line_of(("sop_versions", sop_id)), f"{sop_id} never had version {version}")
            )
    for question_id, text in model.questions.items():
        loc = ("questions", question_id)
        try:
            question = bank.question(question_id)
        except KeyError:
            problems.append(Problem.error(path, line_of(loc), f"bank {bank.id} has no question `{question_id}`"))
            continue
        if isinstance(question, _ChoiceQuestion):
            ids = {o.id for o in question.options if o.id is not None}
            if set(text.options) != ids:
                problems.append(
                    Problem.error(
                        path,
                        line_of((*loc, "options")),
                        f"options must translate exactly the option ids {', '.join(sorted(ids))}",
                    )
                )
        elif text.options:
            problems.append(Problem.error(path, line_of((*loc, "options")), f"`{question_id}` has no options"))
        if isinstance(question, Ordering):
            if len(text.items) != len(question.items):
                problems.append(
                    Problem.error(
                        path,
                        line_of((*loc, "items")),
                        f"items must translate all {len(question.items)} items, in the bank's order",
                    )
                )
        elif text.items:
            problems.append(Problem.error(path, line_of((*loc, "items")), f"`{question_id}` has no items"))
    return problems


def translation_state(
    translation: BankTranslation | None, bank: Bank, current_versions: dict[str, str]
) -> TranslationState:
    """The worst state over the covered SOPs; an untranslated question makes it stale."""
    if translation is None:
        return TranslationState.MISSING
    if any(q.id not in translation.model.questions for q in bank.questions):
        return TranslationState.STALE
    states = [
        state_of(current_versions[sop_id], translation.model.sop_versions.get(sop_id))
        for sop_id in bank.sops
        if sop_id in current_versions
    ]
    return max(states, key=_ORDER.index, default=TranslationState.CURRENT)


def localize_view(view: dict[str, Any], drawn: list[dict], translation: BankTranslation) -> dict[str, Any]:
    """The taker's view in the translation's language (same keys, labels and order)."""
    texts = translation.model.questions
    view = {**view, "language": translation.language, "bank": {**view["bank"], "title": translation.model.title}}
    questions = []
    for item, drawn_question in zip(view["questions"], drawn):
        text = texts[drawn_question["question_id"]]
        localized = {**item, "stem": text.stem}
        order = drawn_question.get("order") or []
        if "options" in item:
            localized["options"] = [
                {**option, "text": text.options[order[i]]} for i, option in enumerate(item["options"])
            ]
        if "items" in item:
            localized["items"] = [{**entry, "text": text.items[int(order[i])]} for i, entry in enumerate(item["items"])]
        questions.append(localized)
    view["questions"] = questions
    return view


def choose(
    translations: LoadedTranslations, bank: Bank, language: str | None, current_versions: dict[str, str]
) -> BankTranslation | None:
    """The translation an agent reading `language` takes `bank` in, or None for the source language."""
    if not language or language == SOURCE_LANGUAGE:
        return None
    translation = translations.get(bank.id, language)
    return translation if servable(translation_state(translation, bank, current_versions)) else None


def versions_index(catalog: Any) -> tuple[dict[str, set[str]], dict[str, str]]:
    """(every version each SOP has had, its current version) from a loaded catalog."""
    every = {sop.id: {c.version for c in sop.changelog} for sop in catalog}
    current = {sop.id: sop.version for sop in catalog}
    return every, current

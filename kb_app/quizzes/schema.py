"""The question bank schema: what a `quizzes/*.yml` file may contain, checked by pydantic.

pydantic checks the shape (fields, types, ranges). Rules that need the whole bank or the SOP
catalog (one right answer, duplicate ids, cited sections exist) live in `bank.py`, where each
problem gets the line it belongs to.

A bank, with every field (all bank-level fields are required unless marked optional):

```yaml
id: ato-recovery-t1            # lower case, digits, dashes; unique across quizzes/
title: Hacked account recovery (Tier 1)
kind: certification            # certification | update
tier: T1                       # T1 | T2: who takes it (a T1 bank cannot cover t2_only SOPs)
sops: [ATO-RECOVERY]           # SOP ids covered; an update bank covers exactly one
version: "3.0"                 # update banks only: the SOP version the quiz belongs to
pass_mark: 80                  # percent, 1..100
questions_per_attempt: 10      # drawn at random, spread over the cited sections
time_limit_minutes: 20
attempts_per_day: 3
cooldown_hours: 24             # wait after a failed attempt
valid_days: 365                # a pass certifies this long (or until a covered SOP's major bump)
review_shows_answers: true     # after submitting: show right answers and explanations
multiple_scoring: partial      # optional default for `multiple`: partial | all_or_nothing | weighted
questions:
  - id: first-step             # unique in the bank
    type: single               # single | multiple | true_false | ordering | short_answer | matching | numerical
    source: ATO-RECOVERY#verify-ownership   # SOP-ID#section-anchor the question tests
    points: 1                  # optional, default 1
    stem: A caller says their account was hacked ... What do you do first?
    options:                   # single and multiple: 2..12 options
      - text: Verify ownership with two signals
        correct: true
        feedback: optional, shown in the review
      - text: Change the email address
    explanation: Why, shown in the review.
  - id: signals
    type: multiple
    scoring: weighted          # optional; else the bank's multiple_scoring
    options:
      - {id: device, text: Known device, weight: 50}     # weighted: percent, -100..100
      - {id: card, text: Card digits, weight: 50}
      - {id: name, text: Full name, weight: -100}
    ...
  - {type: true_false, answer: false, feedback_right: ..., feedback_wrong: ..., ...}
  - {type: ordering, items: [first step, second step, third step], ...}       # in the right order
  - {type: short_answer, accepted: [Threat Management, TM], unicode_normalize: true, ...}
  - type: short_answer          # partial credit: an accepted answer may be a mapping
    accepted:
      - Threat Management                                  # a plain string earns 100 %
      - {text: Security team, credit: 50, feedback: Which one? Threat Management.}
  - type: matching              # match each prompt to its answer; credit per right pair
    scoring: partial            # optional: partial (default) | all_or_nothing
    pairs:
      - {prompt: Attacker still signed in on a device, answer: Threat Management}
      - {prompt: Law-enforcement request for data, answer: Privacy & Investigations}
    distractors: [Product]      # optional: answers that match no prompt
  - type: numerical             # a number; the best matching answer's credit counts
    unit: hours                 # optional, shown next to the input
    answers:
      - {value: 4}                          # exact (tolerance 0), credit 100
      - {value: 4, tolerance: 0.5, credit: 50}
      - {min: 3, max: 5, credit: 25, feedback: Close, but bulletins allow 4 hours.}
retry_after: reading_or_cooldown  # bank, optional: what unlocks a retry after a failed attempt
                                  # (cooldown | reading | reading_or_cooldown, see `Bank`)
```

`explanation` is optional for import leniency, but `kb validate` warns about every question
without one until it is written.

Option ids default to a, b, c ... by position. Text fields are stripped of surrounding whitespace.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

BANK_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
QUESTION_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?$")
OPTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")
SOP_ID = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
SOURCE = re.compile(r"^(?P<sop>[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)#(?P<anchor>[A-Za-z0-9][A-Za-z0-9_-]*)$")
VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$")

QUESTION_TYPES = ("single", "multiple", "true_false", "ordering", "short_answer", "matching", "numerical")
SCORING_RULES = ("partial", "all_or_nothing", "weighted")
MAX_OPTIONS = 12
MAX_ACCEPTED = 20
MAX_TEXT = 4000
MAX_SHORT_ANSWER = 200


def _stripped(value: str) -> str:
    """Text fields are compared and exported without surrounding whitespace (YAML `|` adds a newline)."""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _optional_stripped(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_stripped)]
OptionalText = Annotated[str | None, AfterValidator(_optional_stripped)]
BankId = Annotated[str, StringConstraints(pattern=BANK_ID.pattern)]
QuestionId = Annotated[str, StringConstraints(pattern=QUESTION_ID.pattern)]
OptionId = Annotated[str, StringConstraints(pattern=OPTION_ID.pattern)]
SopId = Annotated[str, StringConstraints(pattern=SOP_ID.pattern)]
Source = Annotated[str, StringConstraints(pattern=SOURCE.pattern)]
Version = Annotated[str, StringConstraints(pattern=VERSION.pattern)]
ShortAnswerText = Annotated[str, StringConstraints(max_length=MAX_SHORT_ANSWER), AfterValidator(_stripped)]

ScoringRule = Literal["partial", "all_or_nothing", "weighted"]
MatchingScoring = Literal["partial", "all_or_nothing"]
RetryRule = Literal["cooldown", "reading", "reading_or_cooldown"]
RETRY_RULES = ("cooldown", "reading", "reading_or_cooldown")
MAX_PAIRS = 12
MAX_DISTRACTORS = 8
MAX_NUMERIC_ANSWERS = 10


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Option(_Strict):
    """One answer option of a `single` or `multiple` question.

    `id` defaults to a, b, c ... by position. `correct` marks the right answers; under the
    `weighted` scoring rule each option carries `weight` (percent, -100..100) instead, and an
    option is right exactly when its weight is above zero.
    """

    id: OptionId | None = None
    text: Text
    correct: bool | None = None
    weight: float | None = Field(default=None, ge=-100, le=100)
    feedback: OptionalText = None

    @property
    def is_correct(self) -> bool:
        if self.weight is not None:
            return self.weight > 0
        return bool(self.correct)


class _QuestionBase(_Strict):
    id: QuestionId
    source: Source
    points: int = Field(default=1, ge=1, le=100)
    stem: Text
    explanation: OptionalText = None

    @property
    def sop_id(self) -> str:
        return self.source.split("#", 1)[0]

    @property
    def anchor(self) -> str:
        return self.source.split("#", 1)[1]


class _ChoiceQuestion(_QuestionBase):
    options: list[Option] = Field(min_length=2, max_length=MAX_OPTIONS)

    def model_post_init(self, __context) -> None:
        for index, option in enumerate(self.options):
            if option.id is None:
                option.id = default_option_id(index)

    def option(self, option_id: str) -> Option:
        for option in self.options:
            if option.id == option_id:
                return option
        raise KeyError(option_id)


class SingleChoice(_ChoiceQuestion):
    """Exactly one option is right (scenario stems: "A customer says ... What do you do first?")."""

    type: Literal["single"]


class MultipleResponse(_ChoiceQuestion):
    """Select all that apply. Scoring rule (per question, else the bank's `multiple_scoring`):

    - `partial`: (right options selected - wrong options selected) / right options, floored at 0;
    - `all_or_nothing`: full points only for exactly the right set;
    - `weighted`: the sum of the selected options' `weight` percents, clamped to 0..100
      (Moodle's rule; the positive weights add up to 100).
    """

    type: Literal["multiple"]
    scoring: ScoringRule | None = None


class TrueFalse(_QuestionBase):
    """A statement that is true or false; optional feedback for a right and for a wrong response."""

    type: Literal["true_false"]
    answer: bool
    feedback_right: OptionalText = None
    feedback_wrong: OptionalText = None


class Ordering(_QuestionBase):
    """Put the items in order; `items` lists them in the right order. Full points only when exact."""

    type: Literal["ordering"]
    items: list[Text] = Field(min_length=2, max_length=MAX_OPTIONS)


class AcceptedAnswer(_Strict):
    """A short answer that earns `credit` percent of the points (1..100; `kb validate` checks the
    range), with optional feedback shown in the review to whoever gave it."""

    text: ShortAnswerText
    credit: float = 100
    feedback: OptionalText = None


class ShortAnswer(_QuestionBase):
    """Type the answer; an accepted answer matches ignoring case and runs of whitespace (and,
    unless `unicode_normalize: false`, after Unicode NFKC normalization). A plain string earns
    full points; a mapping `{text, credit, feedback}` earns `credit` percent (partial credit)."""

    type: Literal["short_answer"]
    accepted: list[Union[ShortAnswerText, AcceptedAnswer]] = Field(min_length=1, max_length=MAX_ACCEPTED)
    unicode_normalize: bool = True

    def answers(self) -> list[AcceptedAnswer]:
        """Every accepted answer as a mapping (plain strings earn 100 %)."""
        return [a if isinstance(a, AcceptedAnswer) else AcceptedAnswer(text=a) for a in self.accepted]

    @property
    def accepted_texts(self) -> list[str]:
        return [a.text for a in self.answers()]


class MatchingPair(_Strict):
    prompt: Text
    answer: Text


class Matching(_QuestionBase):
    """Match each prompt to its answer from one shared list (the pairs' answers, each once, and
    any `distractors`). `partial` scoring (the default) earns the share of right pairs;
    `all_or_nothing` full points only when every pair is right. Several prompts may share an answer."""

    type: Literal["matching"]
    scoring: MatchingScoring = "partial"
    pairs: list[MatchingPair] = Field(min_length=1, max_length=MAX_PAIRS)
    distractors: list[Text] = Field(default_factory=list, max_length=MAX_DISTRACTORS)

    @property
    def choices(self) -> list[str]:
        """The answers the taker picks from, in bank order: pair answers (first spelling of each)
        then distractors. Displayed shuffled; an attempt records indexes into this list."""
        seen: set[str] = set()
        result = []
        for text in [p.answer for p in self.pairs] + list(self.distractors):
            key = " ".join(text.casefold().split())
            if key not in seen:
                seen.add(key)
                result.append(text)
        return result

    def choice_index(self, text: str) -> int:
        key = " ".join(text.casefold().split())
        for index, choice in enumerate(self.choices):
            if " ".join(choice.casefold().split()) == key:
                return index
        raise KeyError(text)


class NumericAnswer(_Strict):
    """One accepted number: `value` with `tolerance` (default 0, exact), or the range `min`..`max`
    (inclusive). `credit` percent of the points (default 100); optional review `feedback`."""

    value: float | None = None
    tolerance: float | None = None
    min: float | None = None
    max: float | None = None
    credit: float = 100
    feedback: OptionalText = None

    @property
    def is_range(self) -> bool:
        return self.min is not None or self.max is not None

    def bounds(self) -> tuple[float, float]:
        if self.is_range:
            return (
                self.min if self.min is not None else float("-inf"),
                self.max if self.max is not None else float("inf"),
            )
        tolerance = self.tolerance or 0.0
        value = self.value if self.value is not None else 0.0
        return (value - tolerance, value + tolerance)


class Numerical(_QuestionBase):
    """Type a number (an SLA in hours, a threshold); the best-credited matching answer counts."""

    type: Literal["numerical"]
    unit: Annotated[str, StringConstraints(max_length=40), AfterValidator(_stripped)] | None = None
    answers: list[NumericAnswer] = Field(min_length=1, max_length=MAX_NUMERIC_ANSWERS)


Question = Annotated[
    Union[SingleChoice, MultipleResponse, TrueFalse, Ordering, ShortAnswer, Matching, Numerical],
    Field(discriminator="type"),
]


class Bank(_Strict):
    """A question bank: which SOPs it certifies, the attempt policy, and the questions."""

    id: BankId
    title: Text
    kind: Literal["certification", "update"]
    tier: Literal["T1", "T2"]
    sops: list[SopId] = Field(min_length=1)
    version: Version | None = None
    pass_mark: int = Field(ge=1, le=100)
    questions_per_attempt: int = Field(ge=1, le=200)
    time_limit_minutes: int = Field(ge=1, le=600)
    attempts_per_day: int = Field(ge=1, le=50)
    cooldown_hours: int = Field(ge=0, le=24 * 30)
    valid_days: int = Field(ge=1, le=3660)
    review_shows_answers: bool
    multiple_scoring: ScoringRule = "partial"
    # After a failed attempt: the retry unlocks after the cool-down (`cooldown`), once the missed
    # sections were read (`reading`), or whichever comes first (`reading_or_cooldown`, the default).
    retry_after: RetryRule = "reading_or_cooldown"
    questions: list[Question] = Field(min_length=1)

    def question(self, question_id: str):
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def scoring_of(self, question: MultipleResponse) -> str:
        return question.scoring or self.multiple_scoring

    @property
    def max_points(self) -> int:
        return sum(q.points for q in self.questions)


def default_option_id(index: int) -> str:
    """a, b, ..., z, then a1, b1 ... (banks allow at most MAX_OPTIONS options, so letters suffice)."""
    letter = chr(ord("a") + index % 26)
    return letter if index < 26 else f"{letter}{index // 26}"


QUESTION_FIELD_ORDER = (
    "id",
    "type",
    "source",
    "points",
    "scoring",
    "stem",
    "unit",
    "options",
    "answer",
    "items",
    "pairs",
    "distractors",
    "answers",
    "accepted",
    "unicode_normalize",
    "feedback_right",
    "feedback_wrong",
    "explanation",
)
BANK_FIELD_ORDER = (
    "id",
    "title",
    "kind",
    "tier",
    "sops",
    "version",
    "pass_mark",
    "questions_per_attempt",
    "time_limit_minutes",
    "attempts_per_day",
    "cooldown_hours",
    "valid_days",
    "review_shows_answers",
    "multiple_scoring",
    "retry_after",
    "questions",
)


def bank_to_data(bank: Bank) -> dict:
    """The bank as plain data in the order authors read it; defaults left out of questions."""
    raw = bank.model_dump(mode="json", exclude_none=True)
    data = {key: raw[key] for key in BANK_FIELD_ORDER if key in raw}
    if data.get("multiple_scoring") == "partial":
        del data["multiple_scoring"]
    if data.get("retry_after") == "reading_or_cooldown":
        del data["retry_after"]
    questions = []
    for question, q_raw in zip(bank.questions, raw["questions"]):
        if q_raw.get("points") == 1:
            del q_raw["points"]
        if q_raw.get("unicode_normalize") is True:
            del q_raw["unicode_normalize"]
        for option in q_raw.get("options", []):
            if option.get("correct") is False:
                del option["correct"]
        _drop_new_type_defaults(question, q_raw)
        questions.append({key: q_raw[key] for key in QUESTION_FIELD_ORDER if key in q_raw})
    data["questions"] = questions
    return data


def _drop_new_type_defaults(question, q_raw: dict) -> None:
    """Leave defaults of the matching, numerical and partial-credit short answer fields out, so the
    written YAML stays short and a bank's hash does not depend on how a default was spelled."""
    if isinstance(question, Matching):
        if q_raw.get("scoring") == "partial":
            del q_raw["scoring"]
        if not q_raw.get("distractors"):
            q_raw.pop("distractors", None)
    elif isinstance(question, Numerical):
        for answer in q_raw["answers"]:
            if answer.get("credit") == 100:
                del answer["credit"]
            for key, value in answer.items():
                if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
                    answer[key] = int(value)
    elif isinstance(question, ShortAnswer):
        accepted = []
        for entry in q_raw["accepted"]:
            if isinstance(entry, dict) and entry.get("credit") == 100:
                del entry["credit"]
            if isinstance(entry, dict) and isinstance(entry.get("credit"), float) and entry["credit"].is_integer():
                entry["credit"] = int(entry["credit"])
            if isinstance(entry, dict) and set(entry) == {"text"}:
                entry = entry["text"]
            accepted.append(entry)
        q_raw["accepted"] = accepted

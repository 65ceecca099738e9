"""Draw an attempt from a bank (pure and deterministic for a given seed) and show it to the taker.

`draw_attempt(bank, seed) -> Attempt` picks `questions_per_attempt` questions spread over the
cited SOP sections (round-robin over sections in random order, random within a section) and
shuffles the options. The `Attempt` records everything needed to grade later (question ids and
the displayed option order) and serializes with `to_dict()` / `Attempt.from_dict()`.

`taker_view(bank, attempt) -> dict` is what the agent sees: stems, points and options under
per-attempt labels (a, b, c ... in displayed order). It holds no answer key, no correct flags, no
feedback or explanations, no accepted answers, no source citations, no bank question ids, and
ordering items in a shuffled order that is never the right one. A matching question shows its
prompts (labelled 1, 2, 3 ...) and one shared list of answers (a, b, c ...), each in its own
shuffled order; a numerical question shows only its stem (and unit).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from kb_app.quizzes.bank import bank_hash
from kb_app.quizzes.schema import (
    MAX_SHORT_ANSWER,
    Bank,
    Matching,
    MultipleResponse,
    Numerical,
    Ordering,
    ShortAnswer,
    SingleChoice,
    TrueFalse,
    _ChoiceQuestion,
)

MAX_NUMBER_LENGTH = 32  # characters of a typed number


class AttemptMismatch(ValueError):
    """The attempt was drawn from a different bank, or the bank changed since the draw."""


def display_label(position: int) -> str:
    """Labels shown to the taker: a, b, c ... by displayed position (at most 12 per question)."""
    return chr(ord("a") + position)


@dataclass(frozen=True)
class DrawnQuestion:
    key: str  # "q1", "q2" ... the question's place in the attempt, used as the answer key
    question_id: str
    # choice: bank option ids as displayed; ordering: item indexes as displayed; matching: pair indexes
    order: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()  # matching: indexes into `Matching.choices` as displayed

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(display_label(i) for i in range(len(self.order)))

    def label_map(self) -> dict[str, str]:
        """Displayed label -> bank option id (or item index)."""
        return dict(zip(self.labels, self.order))

    @property
    def prompt_labels(self) -> tuple[str, ...]:
        """Matching: prompts are numbered 1, 2, 3 ... as displayed."""
        return tuple(str(i + 1) for i in range(len(self.order)))

    def prompt_map(self) -> dict[str, int]:
        """Matching: displayed prompt label -> pair index."""
        return {label: int(index) for label, index in zip(self.prompt_labels, self.order)}

    @property
    def choice_labels(self) -> tuple[str, ...]:
        return tuple(display_label(i) for i in range(len(self.choices)))

    def choice_map(self) -> dict[str, int]:
        """Matching: displayed answer label -> index into `Matching.choices`."""
        return {label: int(index) for label, index in zip(self.choice_labels, self.choices)}

    def to_dict(self) -> dict:
        data = {"key": self.key, "question_id": self.question_id, "order": list(self.order)}
        if self.choices:
            data["choices"] = list(self.choices)
        return data


@dataclass(frozen=True)
class Attempt:
    bank_id: str
    bank_hash: str
    seed: str
    questions: tuple[DrawnQuestion, ...]

    def drawn(self, key: str) -> DrawnQuestion:
        for drawn in self.questions:
            if drawn.key == key:
                return drawn
        raise KeyError(key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.questions)

    def to_dict(self) -> dict:
        return {
            "bank_id": self.bank_id,
            "bank_hash": self.bank_hash,
            "seed": self.seed,
            "questions": [d.to_dict() for d in self.questions],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Attempt":
        return cls(
            bank_id=data["bank_id"],
            bank_hash=data["bank_hash"],
            seed=str(data["seed"]),
            questions=tuple(
                DrawnQuestion(q["key"], q["question_id"], tuple(q.get("order", ())), tuple(q.get("choices", ())))
                for q in data["questions"]
            ),
        )


def draw_attempt(bank: Bank, seed: int | str) -> Attempt:
    rng = random.Random(f"{bank.id}:{seed}")
    by_section: dict[str, list] = defaultdict(list)
    for question in bank.questions:
        by_section[question.source].append(question)
    sections = sorted(by_section)
    rng.shuffle(sections)
    for source in sections:
        rng.shuffle(by_section[source])

    picked = []
    count = min(bank.questions_per_attempt, len(bank.questions))
    while len(picked) < count:
        for source in sections:
            if by_section[source] and len(picked) < count:
                picked.append(by_section[source].pop())
    rng.shuffle(picked)

    drawn = []
    for position, question in enumerate(picked, start=1):
        order = _display_order(question, rng)
        choices = _matching_choices(question, rng) if isinstance(question, Matching) else ()
        drawn.append(DrawnQuestion(f"q{position}", question.id, order, choices))
    return Attempt(bank.id, bank_hash(bank), str(seed), tuple(drawn))


def _display_order(question, rng: random.Random) -> tuple[str, ...]:
    if isinstance(question, _ChoiceQuestion):
        ids = [option.id for option in question.options]
        rng.shuffle(ids)
        return tuple(ids)
    if isinstance(question, Ordering):
        indexes = [str(i) for i in range(len(question.items))]
        right = list(indexes)
        while indexes == right:  # showing the items in the right order would give the answer away
            rng.shuffle(indexes)
        return tuple(indexes)
    if isinstance(question, Matching):
        indexes = [str(i) for i in range(len(question.pairs))]
        rng.shuffle(indexes)
        return tuple(indexes)
    return ()


def _matching_choices(question: Matching, rng: random.Random) -> tuple[str, ...]:
    indexes = [str(i) for i in range(len(question.choices))]
    rng.shuffle(indexes)
    return tuple(indexes)


def check_attempt(bank: Bank, attempt: Attempt) -> None:
    if attempt.bank_id != bank.id:
        raise AttemptMismatch(f"attempt belongs to bank {attempt.bank_id!r}, not {bank.id!r}")
    if attempt.bank_hash != bank_hash(bank):
        raise AttemptMismatch(f"bank {bank.id!r} changed since this attempt was drawn; draw a new attempt")


def taker_view(bank: Bank, attempt: Attempt) -> dict:
    check_attempt(bank, attempt)
    questions = []
    for number, drawn in enumerate(attempt.questions, start=1):
        question = bank.question(drawn.question_id)
        item: dict[str, Any] = {
            "key": drawn.key,
            "number": number,
            "type": question.type,
            "points": question.points,
            "stem": question.stem,
        }
        if isinstance(question, (SingleChoice, MultipleResponse)):
            item["options"] = [
                {"id": label, "text": question.option(option_id).text} for label, option_id in drawn.label_map().items()
            ]
            item["answer_shape"] = "one option id" if isinstance(question, SingleChoice) else "list of option ids"
        elif isinstance(question, Ordering):
            item["items"] = [
                {"id": label, "text": question.items[int(index)]} for label, index in drawn.label_map().items()
            ]
            item["answer_shape"] = "list of every item id, first to last"
        elif isinstance(question, TrueFalse):
            item["answer_shape"] = "true or false"
        elif isinstance(question, ShortAnswer):
            item["max_length"] = MAX_SHORT_ANSWER
            item["answer_shape"] = "text"
        elif isinstance(question, Matching):
            item.update(matching_taker_view(question, drawn))
        elif isinstance(question, Numerical):
            item["unit"] = question.unit
            item["max_length"] = MAX_NUMBER_LENGTH
            item["answer_shape"] = "a number"
        questions.append(item)
    return {
        "bank": {"id": bank.id, "title": bank.title, "kind": bank.kind, "tier": bank.tier},
        "time_limit_minutes": bank.time_limit_minutes,
        "pass_mark": bank.pass_mark,
        "points_max": sum(q["points"] for q in questions),
        "questions": questions,
    }


def matching_taker_view(question: Matching, drawn: DrawnQuestion) -> dict:
    """Prompts and the shared answer list under the attempt's labels; no pairing is given away
    (prompts and answers are shuffled independently, and answers are listed once each)."""
    choices = question.choices
    return {
        "prompts": [{"id": label, "text": question.pairs[index].prompt} for label, index in drawn.prompt_map().items()],
        "choices": [{"id": label, "text": choices[index]} for label, index in drawn.choice_map().items()],
        "answer_shape": "object: prompt id -> answer id (prompts left out score zero)",
    }

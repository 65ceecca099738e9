"""Grade a submission against a drawn attempt (pure), and build the review shown afterwards.

A submission maps each attempt key (`q1`, `q2` ...) to an answer in the taker view's labels:

| type | answer |
| --- | --- |
| single | one option id: `"b"` |
| multiple | a list of option ids (may be empty): `["a", "c"]` |
| true_false | `true` or `false` |
| ordering | every item id, first to last: `["c", "a", "b"]` |
| short_answer | text, at most 200 characters |
| matching | prompt id -> answer id: `{"1": "c", "2": "a"}` (prompts left out score zero) |
| numerical | a number, or text that is one (`4`, `4.5`, `4,5`, `-2`): `4` |

A question left out (or answered `null`) scores 0. Anything else that does not fit (a key not in
the attempt, an unknown option id, a wrong shape, too many or too long answers) raises
`SubmissionError` and nothing is graded.

Scoring: `single`, `true_false` and `short_answer` are right or wrong. `ordering` earns full points
only when the whole order is exact (no partial credit: a half-right escalation order is still a
wrong escalation). `multiple` follows the question's scoring rule (see `MultipleResponse`).
`short_answer` earns the credit of the accepted answer it matches (100 % for a plain string);
`numerical` the best credit among the answers whose value (with tolerance) or range holds the
number; `matching` the share of right pairs (or all or nothing, see `Matching`).
Points are exact fractions internally; pass/fail compares exactly against the pass mark.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from kb_app.quizzes.bank import WEIGHT_TOLERANCE
from kb_app.quizzes.draw import MAX_NUMBER_LENGTH, Attempt, DrawnQuestion, check_attempt
from kb_app.quizzes.schema import (
    MAX_SHORT_ANSWER,
    AcceptedAnswer,
    Bank,
    Matching,
    MultipleResponse,
    NumericAnswer,
    Numerical,
    Ordering,
    ShortAnswer,
    SingleChoice,
    TrueFalse,
)

MAX_ANSWERS = 200
WEIGHT_SLACK = Fraction(WEIGHT_TOLERANCE) / 100
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d{1,3})?$")


class SubmissionError(ValueError):
    """The submission cannot be graded as sent; the message says which answer and why."""


@dataclass(frozen=True)
class QuestionGrade:
    key: str
    question_id: str
    type: str
    answered: bool
    points_earned: float
    points_max: int
    correct: bool


@dataclass(frozen=True)
class GradeResult:
    bank_id: str
    questions: tuple[QuestionGrade, ...]
    score: float
    max_score: int
    percent: float
    pass_mark: int
    passed: bool

    def to_dict(self) -> dict:
        data = asdict(self)
        data["questions"] = [asdict(q) for q in self.questions]
        return data


def grade(bank: Bank, attempt: Attempt, submission: Mapping[str, Any]) -> GradeResult:
    check_attempt(bank, attempt)
    answers = _checked_answers(bank, attempt, submission)
    grades = []
    total = Fraction(0)
    max_score = 0
    for drawn in attempt.questions:
        question = bank.question(drawn.question_id)
        answer = answers.get(drawn.key)
        fraction = Fraction(0) if answer is None else _fraction(bank, question, drawn, answer)
        earned = fraction * question.points
        total += earned
        max_score += question.points
        grades.append(
            QuestionGrade(
                key=drawn.key,
                question_id=question.id,
                type=question.type,
                answered=answer is not None,
                points_earned=float(earned),
                points_max=question.points,
                correct=fraction == 1,
            )
        )
    percent = float(round(total * 100 / max_score, 2)) if max_score else 0.0
    return GradeResult(
        bank_id=bank.id,
        questions=tuple(grades),
        score=float(total),
        max_score=max_score,
        percent=percent,
        pass_mark=bank.pass_mark,
        passed=max_score > 0 and total * 100 >= bank.pass_mark * max_score,
    )


def has_answer(answer: Any) -> bool:
    """Whether an answer says anything: not missing, not blank text, not an empty list or
    mapping (a matching answer with every prompt left open is empty too)."""
    if answer is None:
        return False
    if isinstance(answer, str):
        return bool(answer.strip())
    if isinstance(answer, Mapping):
        return any(value is not None for value in answer.values())
    if isinstance(answer, (list, tuple)):
        return bool(answer)
    return True


# --- checking the submission -------------------------------------------------------------------


def _checked_answers(bank: Bank, attempt: Attempt, submission: Any) -> dict[str, Any]:
    if not isinstance(submission, Mapping):
        raise SubmissionError("a submission must map question keys (q1, q2 ...) to answers")
    if len(submission) > MAX_ANSWERS:
        raise SubmissionError(
            f"too many answers ({len(submission)}); this attempt has {len(attempt.questions)} questions"
        )
    keys = set(attempt.keys)
    for key in submission:
        if not isinstance(key, str) or key not in keys:
            shown = repr(key)[:40]
            raise SubmissionError(f"answer for {shown}, which is not a question of this attempt")
    checked = {}
    for drawn in attempt.questions:
        answer = submission.get(drawn.key)
        if answer is not None:
            _check_shape(bank.question(drawn.question_id), drawn, answer)
            checked[drawn.key] = answer
    return checked


def _check_label(drawn: DrawnQuestion, label: Any) -> None:
    if not isinstance(label, str):
        raise SubmissionError(f"{drawn.key}: option ids are strings, got {type(label).__name__}")
    if label not in drawn.labels:
        raise SubmissionError(f"{drawn.key}: unknown option id {label[:20]!r} (options: {', '.join(drawn.labels)})")


def _check_shape(question, drawn: DrawnQuestion, answer: Any) -> None:
    key = drawn.key
    if isinstance(question, SingleChoice):
        _check_label(drawn, answer)
    elif isinstance(question, (MultipleResponse, Ordering)):
        if not isinstance(answer, (list, tuple)):
            raise SubmissionError(f"{key}: expected a list of ids, got {type(answer).__name__}")
        if len(answer) > len(drawn.labels):
            raise SubmissionError(f"{key}: {len(answer)} ids given but the question has {len(drawn.labels)}")
        for label in answer:
            _check_label(drawn, label)
        if len(set(answer)) != len(answer):
            raise SubmissionError(f"{key}: the same id is given twice")
        if isinstance(question, Ordering) and len(answer) != len(drawn.labels):
            raise SubmissionError(f"{key}: put every item in order ({len(drawn.labels)} ids), got {len(answer)}")
    elif isinstance(question, TrueFalse):
        if not isinstance(answer, bool):
            raise SubmissionError(f"{key}: expected true or false, got {type(answer).__name__}")
    elif isinstance(question, ShortAnswer):
        if not isinstance(answer, str):
            raise SubmissionError(f"{key}: expected text, got {type(answer).__name__}")
        if len(answer) > MAX_SHORT_ANSWER:
            raise SubmissionError(f"{key}: answer is {len(answer)} characters; at most {MAX_SHORT_ANSWER} are allowed")
    elif isinstance(question, Matching):
        _check_matching_shape(drawn, answer)
    elif isinstance(question, Numerical):
        parse_number(answer, key)


def _check_matching_shape(drawn: DrawnQuestion, answer: Any) -> None:
    key = drawn.key
    if not isinstance(answer, Mapping):
        raise SubmissionError(
            f"{key}: expected an object mapping prompt ids to answer ids, got {type(answer).__name__}"
        )
    if len(answer) > len(drawn.prompt_labels):
        raise SubmissionError(f"{key}: {len(answer)} prompts answered but the question has {len(drawn.prompt_labels)}")
    for prompt, choice in answer.items():
        if not isinstance(prompt, str) or prompt not in drawn.prompt_labels:
            raise SubmissionError(
                f"{key}: unknown prompt id {str(prompt)[:20]!r} (prompts: {', '.join(drawn.prompt_labels)})"
            )
        if choice is None:
            continue
        if not isinstance(choice, str) or choice not in drawn.choice_labels:
            raise SubmissionError(
                f"{key}: unknown answer id {str(choice)[:20]!r} for prompt {prompt} "
                f"(answers: {', '.join(drawn.choice_labels)})"
            )


def parse_number(answer: Any, key: str = "answer") -> Fraction:
    """A typed number as an exact fraction: JSON numbers, or text like `4`, `-2.5`, `4,5`, `1e3`."""
    if isinstance(answer, bool):
        raise SubmissionError(f"{key}: expected a number, got bool")
    if isinstance(answer, int):
        return Fraction(answer)
    if isinstance(answer, float):
        if not math.isfinite(answer):
            raise SubmissionError(f"{key}: expected a finite number")
        return Fraction(repr(answer))
    if isinstance(answer, str):
        text = answer.strip().replace(" ", "")
        if len(text) > MAX_NUMBER_LENGTH or not _NUMBER.match(text):
            raise SubmissionError(f"{key}: {answer[:20]!r} is not a number")
        return Fraction(text.replace(",", "."))
    raise SubmissionError(f"{key}: expected a number, got {type(answer).__name__}")


# --- scoring ----------------------------------------------------------------------------------


def short_answer_key(text: str, unicode_normalize: bool = True) -> str:
    """What a short answer is compared by: case-folded, whitespace runs collapsed, NFKC if asked."""
    if unicode_normalize:
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.casefold().split())


def _fraction(bank: Bank, question, drawn: DrawnQuestion, answer: Any) -> Fraction:
    """Share of the question's points earned, in [0, 1]."""
    if isinstance(question, SingleChoice):
        return Fraction(int(question.option(drawn.label_map()[answer]).is_correct))
    if isinstance(question, MultipleResponse):
        labels = drawn.label_map()
        chosen = [question.option(labels[label]) for label in answer]
        return multiple_fraction(bank.scoring_of(question), question.options, chosen)
    if isinstance(question, TrueFalse):
        return Fraction(int(answer is question.answer))
    if isinstance(question, Ordering):
        labels = drawn.label_map()
        return Fraction(int([int(labels[label]) for label in answer] == list(range(len(question.items)))))
    if isinstance(question, ShortAnswer):
        matched = matched_short_answer(question, answer)
        return Fraction(0) if matched is None else Fraction(str(matched.credit)) / 100
    if isinstance(question, Matching):
        right = matching_pairs_right(question, drawn, answer)
        if question.scoring == "all_or_nothing":
            return Fraction(int(all(right)))
        return Fraction(sum(right), len(right))
    if isinstance(question, Numerical):
        matched = matched_numeric_answer(question, parse_number(answer, drawn.key))
        return Fraction(0) if matched is None else Fraction(str(matched.credit)) / 100
    raise TypeError(f"no grading rule for {type(question).__name__}")  # pragma: no cover


def matched_short_answer(question: ShortAnswer, answer: str) -> AcceptedAnswer | None:
    """The best-credited accepted answer the text matches, if any."""
    given = short_answer_key(answer, question.unicode_normalize)
    if not given:
        return None
    hits = [a for a in question.answers() if short_answer_key(a.text, question.unicode_normalize) == given]
    return max(hits, key=lambda a: a.credit, default=None)


def _fraction_of(value: float) -> Fraction:
    return Fraction(repr(float(value)))


def numeric_bounds(answer: NumericAnswer) -> tuple[Fraction, Fraction]:
    """Exact inclusive bounds (no binary rounding: 4 with tolerance 0.1 accepts 4.1)."""
    if answer.is_range:
        return _fraction_of(answer.min), _fraction_of(answer.max)
    value, tolerance = _fraction_of(answer.value), _fraction_of(answer.tolerance or 0)
    return value - tolerance, value + tolerance


def matched_numeric_answer(question: Numerical, number: Fraction) -> NumericAnswer | None:
    hits = [a for a in question.answers if numeric_bounds(a)[0] <= number <= numeric_bounds(a)[1]]
    return max(hits, key=lambda a: a.credit, default=None)


def matching_pairs_right(question: Matching, drawn: DrawnQuestion, answer: Mapping) -> list[bool]:
    """Per pair in bank order: did the taker match the prompt to its answer?"""
    prompts = {index: label for label, index in drawn.prompt_map().items()}
    choices = drawn.choice_map()
    right = []
    for index, pair in enumerate(question.pairs):
        chosen = answer.get(prompts[index])
        right.append(chosen is not None and choices[chosen] == question.choice_index(pair.answer))
    return right


def multiple_fraction(rule: str, options, chosen) -> Fraction:
    right = [o for o in options if o.is_correct]
    chosen_ids = {o.id for o in chosen}
    if rule == "all_or_nothing":
        return Fraction(int(chosen_ids == {o.id for o in right}))
    if rule == "weighted":
        total = sum((Fraction(str(o.weight)) for o in chosen), Fraction(0)) / 100
        if abs(total - 1) <= WEIGHT_SLACK:  # 3 x 33.33333% is all of it
            return Fraction(1)
        return min(Fraction(1), max(Fraction(0), total))
    right_chosen = sum(1 for o in chosen if o.is_correct)
    wrong_chosen = len(chosen) - right_chosen
    return max(Fraction(0), Fraction(right_chosen - wrong_chosen, len(right)))


# --- review -----------------------------------------------------------------------------------


def review_view(bank: Bank, attempt: Attempt, submission: Mapping[str, Any]) -> dict:
    """What the agent sees after submitting: the grade per question and the SOP section to re-read.

    When the bank sets `review_shows_answers`, each question also shows the right answer, the
    feedback for the options and the explanation; otherwise only what the agent answered.
    """
    result = grade(bank, attempt, submission)
    show = bank.review_shows_answers
    items = []
    for drawn, graded in zip(attempt.questions, result.questions):
        question = bank.question(drawn.question_id)
        answer = submission.get(drawn.key)
        item: dict[str, Any] = {
            "key": drawn.key,
            "type": question.type,
            "stem": question.stem,
            "source": question.source,
            "points_earned": graded.points_earned,
            "points_max": graded.points_max,
            "correct": graded.correct,
            "your_answer": answer,
        }
        if isinstance(question, (SingleChoice, MultipleResponse)):
            labels = drawn.label_map()
            item["options"] = []
            for label, option_id in labels.items():
                option = question.option(option_id)
                entry: dict[str, Any] = {"id": label, "text": option.text}
                if show:
                    entry["correct"] = option.is_correct
                    if option.feedback:
                        entry["feedback"] = option.feedback
                item["options"].append(entry)
        elif isinstance(question, Ordering):
            labels = drawn.label_map()
            item["items"] = [{"id": label, "text": question.items[int(index)]} for label, index in labels.items()]
            if show:
                by_index = {index: label for label, index in labels.items()}
                item["right_order"] = [by_index[str(i)] for i in range(len(question.items))]
        elif isinstance(question, TrueFalse):
            if show:
                item["right_answer"] = question.answer
                feedback = question.feedback_right if graded.correct else question.feedback_wrong
                if answer is not None and feedback:
                    item["feedback"] = feedback
        elif isinstance(question, ShortAnswer):
            matched = matched_short_answer(question, answer) if isinstance(answer, str) else None
            if show:
                item["accepted"] = [a.text for a in question.answers() if a.credit == 100]
                item["partly_accepted"] = [
                    {"text": a.text, "credit": a.credit} for a in question.answers() if a.credit != 100
                ]
                if matched is not None and matched.feedback:
                    item["feedback"] = matched.feedback
        elif isinstance(question, Matching):
            item.update(matching_review(question, drawn, answer or {}, show))
        elif isinstance(question, Numerical):
            item["unit"] = question.unit
            if show:
                item["accepted"] = [numeric_answer_text(a) for a in question.answers]
                if answer is not None:
                    matched = matched_numeric_answer(question, parse_number(answer, drawn.key))
                    if matched is not None and matched.feedback:
                        item["feedback"] = matched.feedback
        if show and question.explanation:
            item["explanation"] = question.explanation
        items.append(item)
    return {"result": result.to_dict(), "shows_answers": show, "questions": items}


def _number_text(value: float) -> str:
    return format(float(value), "g") if abs(value) < 1e15 else repr(value)


def numeric_answer_text(answer: NumericAnswer) -> dict[str, Any]:
    """An accepted number as the review shows it: `4`, `4 ± 0.5`, `3 to 5`, with its credit."""
    if answer.is_range:
        text = f"{_number_text(answer.min)} to {_number_text(answer.max)}"
    elif answer.tolerance:
        text = f"{_number_text(answer.value)} ± {_number_text(answer.tolerance)}"
    else:
        text = _number_text(answer.value)
    return {"text": text, "credit": answer.credit}


def matching_review(question: Matching, drawn: DrawnQuestion, answer: Mapping, show: bool) -> dict[str, Any]:
    """Each prompt as displayed, what the agent matched it with, and (when shown) the right answer."""
    choices = question.choices
    choice_of = drawn.choice_map()
    right = matching_pairs_right(question, drawn, answer)
    pairs = []
    for label, index in drawn.prompt_map().items():
        chosen = answer.get(label)
        entry: dict[str, Any] = {
            "id": label,
            "prompt": question.pairs[index].prompt,
            "your_answer": choices[choice_of[chosen]] if chosen is not None else None,
        }
        if show:
            entry["right_answer"] = question.pairs[index].answer
            entry["correct"] = right[index]
        pairs.append(entry)
    return {"pairs": pairs, "pairs_right": sum(right) if show else None}

"""Grade a submission against a drawn attempt (pure), and build the review shown afterwards.

A submission maps each attempt key (`q1`, `q2` ...) to an answer in the taker view's labels:

| type | answer |
| --- | --- |
| single | one option id: `"b"` |
| multiple | a list of option ids (may be empty): `["a", "c"]` |
| true_false | `true` or `false` |
| ordering | every item id, first to last: `["c", "a", "b"]` |
| short_answer | text, at most 200 characters |

A question left out (or answered `null`) scores 0. Anything else that does not fit (a key not in
the attempt, an unknown option id, a wrong shape, too many or too long answers) raises
`SubmissionError` and nothing is graded.

Scoring: `single`, `true_false` and `short_answer` are right or wrong. `ordering` earns full points
only when the whole order is exact (no partial credit: a half-right escalation order is still a
wrong escalation). `multiple` follows the question's scoring rule (see `MultipleResponse`).
Points are exact fractions internally; pass/fail compares exactly against the pass mark.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from kb_app.quizzes.bank import WEIGHT_TOLERANCE
from kb_app.quizzes.draw import Attempt, DrawnQuestion, check_attempt
from kb_app.quizzes.schema import (
    MAX_SHORT_ANSWER,
    Bank,
    MultipleResponse,
    Ordering,
    ShortAnswer,
    SingleChoice,
    TrueFalse,
)

MAX_ANSWERS = 200
WEIGHT_SLACK = Fraction(WEIGHT_TOLERANCE) / 100


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
        given = short_answer_key(answer, question.unicode_normalize)
        accepted = {short_answer_key(a, question.unicode_normalize) for a in question.accepted}
        return Fraction(int(bool(given) and given in accepted))
    raise TypeError(f"no grading rule for {type(question).__name__}")  # pragma: no cover


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
        elif isinstance(question, ShortAnswer) and show:
            item["accepted"] = list(question.accepted)
        if show:
            item["explanation"] = question.explanation
        items.append(item)
    return {"result": result.to_dict(), "shows_answers": show, "questions": items}

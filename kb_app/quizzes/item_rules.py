"""`kb validate` rules for matching, numerical and partial-credit short answer questions, and the
warning for a question without an explanation.

`check_item_types(bank, line_of)` returns every problem with the line it belongs to. It is
called by `bank.check_bank` for every bank (YAML files and GIFT imports alike). These rules are
kept apart from the general bank rules so that each reads on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from kb_app.problems import Problem
from kb_app.quizzes.schema import AcceptedAnswer, Bank, Matching, Numerical, ShortAnswer
from kb_app.quizzes.yaml_source import Loc

MIN_PAIRS = 2
MAX_CHOICES = 20

LineOf = Callable[[Loc], int]


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def check_item_types(bank: Bank, path: str, line_of: LineOf) -> list[Problem]:
    problems: list[Problem] = []

    def error(loc: Loc, message: str) -> None:
        problems.append(Problem.error(path, line_of(loc), message))

    def warning(loc: Loc, message: str) -> None:
        problems.append(Problem.warning(path, line_of(loc), message))

    for index, question in enumerate(bank.questions):
        loc = ("questions", index)
        if question.explanation is None:
            warning(
                (*loc, "id"),
                f"question `{question.id}` has no explanation: write `explanation:` (why the answer is right; "
                "agents see it in the review)",
            )
        if isinstance(question, Matching):
            check_matching(question, loc, error)
        elif isinstance(question, Numerical):
            check_numerical(question, loc, error)
        elif isinstance(question, ShortAnswer):
            check_short_answer_credit(question, loc, error)
    return problems


def check_matching(question: Matching, loc: Loc, error) -> None:
    pairs_loc = (*loc, "pairs")
    if len(question.pairs) < MIN_PAIRS:
        error(
            pairs_loc,
            f"matching question `{question.id}` has {len(question.pairs)} pair; it needs at least {MIN_PAIRS} "
            "(a single pair is a single-choice question)",
        )
    prompts: dict[str, int] = {}
    for position, pair in enumerate(question.pairs):
        key = _key(pair.prompt)
        if key in prompts:
            first = prompts[key]
            same = _key(question.pairs[first].answer) == _key(pair.answer)
            error(
                (*pairs_loc, position),
                f"duplicate {'pair' if same else 'prompt'} {pair.prompt!r} in matching question `{question.id}` "
                f"(same as pair {first + 1})",
            )
        else:
            prompts[key] = position
    answers = {_key(p.answer) for p in question.pairs}
    distractors: dict[str, int] = {}
    for position, text in enumerate(question.distractors):
        key = _key(text)
        if key in answers:
            error(
                (*loc, "distractors", position),
                f"distractor {text!r} of `{question.id}` is also the answer of a pair; a distractor matches no prompt",
            )
        elif key in distractors:
            error((*loc, "distractors", position), f"duplicate distractor {text!r} in `{question.id}`")
        distractors.setdefault(key, position)
    if len(question.choices) > MAX_CHOICES:
        error(
            (*loc, "distractors"),
            f"matching question `{question.id}` offers {len(question.choices)} answers; at most {MAX_CHOICES}",
        )


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def check_numerical(question: Numerical, loc: Loc, error) -> None:
    answers_loc = (*loc, "answers")
    full = False
    for position, answer in enumerate(question.answers):
        here = (*answers_loc, position)
        if not all(_finite(v) for v in (answer.value, answer.tolerance, answer.min, answer.max)):
            error(here, f"answer {position + 1} of `{question.id}`: numbers must be finite (not .inf or .nan)")
            continue
        if answer.is_range:
            if answer.value is not None or answer.tolerance is not None:
                error(
                    here,
                    f"answer {position + 1} of `{question.id}`: give either `value` (and `tolerance`) or `min` and `max`, not both",
                )
            elif answer.min is None or answer.max is None:
                error(here, f"answer {position + 1} of `{question.id}`: a range needs both `min` and `max`")
            elif answer.min > answer.max:
                error(
                    (*here, "min"),
                    f"answer {position + 1} of `{question.id}`: `min` {answer.min:g} is above `max` {answer.max:g}",
                )
        elif answer.value is None:
            error(here, f"answer {position + 1} of `{question.id}` needs `value` (a number) or `min` and `max`")
        if answer.tolerance is not None and answer.tolerance < 0:
            error(
                (*here, "tolerance"),
                f"answer {position + 1} of `{question.id}`: tolerance {answer.tolerance:g} is below zero "
                "(it is how far from `value` an answer may be)",
            )
        _check_credit(
            answer.credit, answer.feedback, (*here, "credit"), f"answer {position + 1} of `{question.id}`", error
        )
        full = full or answer.credit == 100
    if not full:
        error(answers_loc, f"numerical question `{question.id}`: no answer earns full credit (100)")


def check_short_answer_credit(question: ShortAnswer, loc: Loc, error) -> None:
    full = False
    for position, entry in enumerate(question.accepted):
        if isinstance(entry, AcceptedAnswer):
            _check_credit(
                entry.credit,
                entry.feedback,
                (*loc, "accepted", position, "credit"),
                f"accepted answer {entry.text!r}",
                error,
            )
            full = full or entry.credit == 100
        else:
            full = True
    if not full:
        error((*loc, "accepted"), f"short answer `{question.id}`: no accepted answer earns full credit (100)")


def _check_credit(credit: float, feedback: str | None, loc: Loc, what: str, error) -> None:
    """Credit is 0..100 percent; a 0 % answer is a known wrong answer and only makes sense with
    the feedback it exists for."""
    if not math.isfinite(credit) or credit > 100:
        error(loc, f"{what}: credit {credit:g}% is above 100% (credit is the percent of the points it earns)")
    elif credit < 0:
        error(loc, f"{what}: credit {credit:g}% is below 0%")
    elif credit == 0 and not feedback:
        error(loc, f"{what}: a 0% answer needs `feedback` (it exists to tell the agent why it is wrong)")

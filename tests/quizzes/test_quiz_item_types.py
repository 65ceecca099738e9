"""Matching, numerical and partial-credit short answer questions: validation, grading, review and GIFT."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
import yaml

from kb_app.quizzes.bank import parse_bank
from kb_app.quizzes.draw import draw_attempt, taker_view
from kb_app.quizzes.gift import bank_to_gift, gift_to_bank
from kb_app.quizzes.grading import SubmissionError, grade, parse_number, review_view
from kb_app.quizzes.schema import Matching, Numerical, ShortAnswer, bank_to_data
from tests.quizzes.factories import answers_for, bank_data, make_new_types_bank, new_type_questions


def bank_with(*questions: dict, **policy):
    data = bank_data(questions_per_attempt=len(questions), **policy)
    data["questions"] = list(questions)
    bank, problems = parse_bank(yaml.safe_dump(data).encode(), "bank.yml")
    return bank, problems


def question(kind: str) -> dict:
    return next(q for q in new_type_questions() if q["type"] == kind)


def messages(problems) -> list[str]:
    return [p.message for p in problems if p.is_error]


# --- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda q: q.update(pairs=q["pairs"][:1]), "has 1 pair; it needs at least 2"),
        (lambda q: q["pairs"].append(dict(q["pairs"][0])), "duplicate pair 'Attacker signs in again after recovery'"),
        (
            lambda q: q["pairs"].append({"prompt": q["pairs"][0]["prompt"], "answer": "Policy team"}),
            "duplicate prompt",
        ),
        (lambda q: q.update(distractors=["threat management"]), "is also the answer of a pair"),
        (lambda q: q.update(distractors=["X", "x"]), "duplicate distractor"),
    ],
)
def test_bad_matching_questions_are_errors(change, fragment):
    data = question("matching")
    change(data)
    bank, problems = bank_with(data)
    assert bank is None and any(fragment in m for m in messages(problems)), messages(problems)


@pytest.mark.parametrize(
    "answers, fragment",
    [
        ([{"value": "four"}], "Input should be a valid number"),
        ([{"value": True}], "Input should be a valid number"),
        ([{"value": 4, "tolerance": -0.5}], "tolerance -0.5 is below zero"),
        ([{"value": 4, "credit": 150}], "credit 150% is above 100%"),
        ([{"value": 4}, {"value": 5, "credit": -10}], "below 0%"),
        ([{"value": 4}, {"value": 5, "credit": 0}], "a 0% answer needs `feedback`"),
        ([{"value": 4, "credit": 50}], "no answer earns full credit"),
        ([{"min": 5, "max": 3}], "`min` 5 is above `max` 3"),
        ([{"min": 5}], "a range needs both `min` and `max`"),
        ([{"value": 4, "min": 3, "max": 5}], "not both"),
        ([{"credit": 100}], "needs `value`"),
        ([{"value": float("inf")}], "must be finite"),
    ],
)
def test_bad_numerical_answers_are_errors(answers, fragment):
    bank, problems = bank_with({**question("numerical"), "answers": answers})
    assert bank is None and any(fragment in m for m in messages(problems)), messages(problems)


@pytest.mark.parametrize(
    "accepted, fragment",
    [
        (["TM", {"text": "Security", "credit": 120}], "credit 120% is above 100%"),
        ([{"text": "Security", "credit": 50}], "no accepted answer earns full credit"),
        (["TM", {"text": "tm", "credit": 50}], "duplicate accepted answer"),
    ],
)
def test_bad_partial_credit_short_answers_are_errors(accepted, fragment):
    bank, problems = bank_with({**question("short_answer"), "accepted": accepted})
    assert bank is None and any(fragment in m for m in messages(problems)), messages(problems)


def test_a_question_without_explanation_loads_with_a_warning_on_its_line():
    data = question("numerical")
    del data["explanation"]
    bank, problems = bank_with(data)
    assert bank is not None and bank.questions[0].explanation is None
    [warning] = problems
    assert not warning.is_error and "has no explanation" in warning.message and warning.line > 1


def test_defaults_are_left_out_of_the_written_bank():
    bank = make_new_types_bank()
    data = {q["id"]: q for q in bank_to_data(bank)["questions"]}
    assert "scoring" not in data["route"]
    assert data["hours"]["answers"] == [
        {"value": 4},
        {"min": 3, "max": 5, "credit": 50, "feedback": "FEEDBACK-SECRET-hours"},
    ]
    assert data["who"]["accepted"][0] == "Threat Management"


# --- taker view and grading ----------------------------------------------------------------------


@pytest.fixture
def bank():
    return make_new_types_bank()


def drawn(bank, question_id, seed=3):
    attempt = draw_attempt(bank, seed)
    [item] = [d for d in attempt.questions if d.question_id == question_id]
    return attempt, item


def score(bank, attempt, key, answer) -> float:
    result = grade(bank, attempt, {key: answer})
    return next(q.points_earned for q in result.questions if q.key == key)


def test_the_taker_view_holds_no_pairing_no_numbers_and_no_credits(bank):
    attempt = draw_attempt(bank, 11)
    text = json.dumps(taker_view(bank, attempt))
    for secret in ("EXPLANATION-SECRET", "FEEDBACK-SECRET", '"credit"', '"value"', '"tolerance"', '"answer"'):
        assert secret not in text
    assert "Security" not in text  # a partly accepted answer is a key too
    view = next(q for q in taker_view(bank, attempt)["questions"] if q["type"] == "matching")
    assert [c["text"] for c in view["choices"]].count("Threat Management") == 1


def test_matching_earns_credit_per_pair_and_all_or_nothing_when_asked(bank):
    attempt, item = drawn(bank, "route")
    right = answers_for(bank, attempt)[item.key]
    assert score(bank, attempt, item.key, right) == 1
    one_off = dict(right)
    one_off[next(iter(one_off))] = next(c for c in item.choice_labels if c not in right.values())
    assert score(bank, attempt, item.key, one_off) == pytest.approx(2 / 3)
    assert score(bank, attempt, item.key, {}) == 0
    strict = make_new_types_bank()
    strict.question("route").scoring = "all_or_nothing"
    assert score(strict, draw_attempt(strict, 3), item.key, one_off) == 0


@pytest.mark.parametrize(
    "answer, points",
    [(4, 1), ("4", 1), ("4,0", 1), (" 4.0 ", 1), (3, 0.5), ("5", 0.5), (4.5, 0.5), (5.01, 0), (-4, 0), ("4e0", 1)],
)
def test_numerical_takes_the_best_credit_of_the_answers_that_hold_the_number(bank, answer, points):
    attempt, item = drawn(bank, "hours")
    assert score(bank, attempt, item.key, answer) == points


def test_numerical_tolerance_is_exact_in_decimal():
    bank, _ = bank_with({**question("numerical"), "answers": [{"value": 4, "tolerance": 0.1}]})
    attempt, item = drawn(bank, "hours")
    assert score(bank, attempt, item.key, 4.1) == 1 and score(bank, attempt, item.key, "3.9") == 1
    assert score(bank, attempt, item.key, 4.1000001) == 0


@pytest.mark.parametrize("answer", ["four", "", "4 hours", True, [4], {"v": 4}, float("nan"), "1" * 40])
def test_numerical_answers_that_are_not_numbers_are_refused(bank, answer):
    attempt, item = drawn(bank, "hours")
    with pytest.raises(SubmissionError):
        grade(bank, attempt, {item.key: answer})


def test_parse_number_reads_comma_decimals_exactly():
    assert parse_number("0,1") == Fraction(1, 10) and parse_number(-2) == -2 and parse_number(0.5) == Fraction(1, 2)


@pytest.mark.parametrize(
    "answer, fragment",
    [
        (["a"], "expected an object"),
        ({"9": "a"}, "unknown prompt id"),
        ({"1": "z"}, "unknown answer id"),
        ({"1": 3}, "unknown answer id"),
    ],
)
def test_malformed_matching_answers_are_refused(bank, answer, fragment):
    attempt, item = drawn(bank, "route")
    with pytest.raises(SubmissionError, match=fragment):
        grade(bank, attempt, {item.key: answer})


def test_partial_credit_short_answers_and_their_feedback(bank):
    attempt, item = drawn(bank, "who")
    assert score(bank, attempt, item.key, "threat  management") == 1
    assert score(bank, attempt, item.key, "SECURITY") == 0.5
    review = review_view(bank, attempt, {item.key: "security"})
    shown = next(q for q in review["questions"] if q["key"] == item.key)
    assert shown["feedback"] == "FEEDBACK-SECRET-who" and shown["partly_accepted"] == [
        {"text": "Security", "credit": 50}
    ]


def test_review_shows_each_pair_and_the_accepted_numbers(bank):
    attempt = draw_attempt(bank, 5)
    submission = answers_for(bank, attempt)
    review = {q["type"]: q for q in review_view(bank, attempt, submission)["questions"]}
    assert all(p["correct"] and p["your_answer"] == p["right_answer"] for p in review["matching"]["pairs"])
    assert review["numerical"]["accepted"] == [{"text": "4", "credit": 100}, {"text": "3 to 5", "credit": 50}]
    hidden = make_new_types_bank(review_shows_answers=False)
    attempt = draw_attempt(hidden, 5)
    text = json.dumps(review_view(hidden, attempt, answers_for(hidden, attempt)))
    assert "right_answer" not in text and "accepted" not in text and "EXPLANATION-SECRET" not in text


# --- GIFT ------------------------------------------------------------------------------------------

MOODLE_STYLE = """// A bank exported from Moodle: no sources, no general feedback.
$CATEGORY: $course$/Account security

::Escalate hacked::A customer's account was hacked and the attacker is still signed in. Who takes it?{
\t=Threat Management
\t~Policy
\t~Product
}

::Screenshots::A screenshot of the profile proves ownership.{F}

::Signals::Which of these are ownership signals?{
\t~%50%Code to the sign-up email
\t~%50%Trusted device
\t~%-100%Knows the current password
}

::Team::Which team takes extortion cases?{
\t=Threat Management
\t=%50%Security
}

::Route::Match the issue to the escalation target.{
\t=Attacker back within 14 days -> Threat Management
\t=Police asks for data -> Privacy & Investigations
\t=Needs an exception to procedure -> Policy
\t= -> Product
}

::Bulletin hours::How many hours does a bulletin allow?{#4}

::Code validity::For how many minutes does a chat verification code stay valid?{#
\t=30:0
\t=%50%25..35#Close: codes last 30 minutes.
}

::Order::Put the recovery steps in order.{
\t=Verify ownership -> 1
\t=Revoke sessions -> 2
\t=Reset the password -> 3
}
"""


def test_a_typical_moodle_bank_of_eight_questions_imports_with_warnings_only():
    bank, problems = gift_to_bank(
        MOODLE_STYLE.encode(), "moodle.gift", bank_id="moodle", title="Moodle", default_source="ATO-RECOVERY#escalate"
    )
    assert bank is not None, [str(p) for p in problems]
    assert [q.type for q in bank.questions] == [
        "single",
        "true_false",
        "multiple",
        "short_answer",
        "matching",
        "numerical",
        "numerical",
        "ordering",
    ]
    assert all(not p.is_error for p in problems)
    assert sum("has no explanation" in p.message for p in problems) == 8
    route = bank.question("Route")
    assert isinstance(route, Matching) and route.distractors == ["Product"]
    code = bank.question("Code-validity")
    assert isinstance(code, Numerical) and code.answers[1].min == 25 and code.answers[1].credit == 50
    team = bank.question("Team")
    assert isinstance(team, ShortAnswer) and [a.credit for a in team.answers()] == [100, 50]


def test_round_trip_keeps_every_new_type_identical(bank):
    text = bank_to_gift(bank)
    again, problems = gift_to_bank(text.encode(), "out.gift", bank_id=bank.id, title=bank.title)
    assert again is not None and not [p for p in problems if p.is_error]
    new = ("matching", "numerical", "short_answer")
    assert [q for q in bank_to_data(again)["questions"] if q["type"] in new] == [
        q for q in bank_to_data(bank)["questions"] if q["type"] in new
    ]
    third, _ = gift_to_bank(bank_to_gift(again).encode(), "out.gift", bank_id=bank.id, title=bank.title)
    assert bank_to_data(third) == bank_to_data(again)


def test_a_matching_question_whose_answers_are_positions_stays_matching():
    data = {**question("matching"), "pairs": [{"prompt": "A", "answer": "2"}, {"prompt": "B", "answer": "1"}]}
    data.pop("distractors")
    bank, _ = bank_with(data)
    text = bank_to_gift(bank)
    assert "// type: matching" in text
    again, _ = gift_to_bank(text.encode(), "x.gift", bank_id=bank.id, title=bank.title)
    assert again.questions[0].type == "matching"


@pytest.mark.parametrize(
    "gift, line, fragment",
    [
        ("// source: ATO-RECOVERY#escalate\n::n::Hours?{#\n=4\n=%50%four\n}", 4, "'four' is not a number"),
        ("// source: ATO-RECOVERY#escalate\n::n::Hours?{#4:-2}", 2, "tolerance -2 is below zero"),
        ("// source: ATO-RECOVERY#escalate\n::n::Hours?{#\n=%-50%4\n}", 3, "earns -50%"),
        ("// source: ATO-RECOVERY#escalate\n::e::Describe the steps.{}", 2, "cannot be graded automatically"),
        ("// source: ATO-RECOVERY#escalate\n::m::Match.{\n=A -> x\n}", 2, "needs at least two pairs"),
        ("// source: ATO-RECOVERY#escalate\n::m::Match.{\n=A -> x\n=A -> x\n}", 4, "duplicate pair"),
        ("// source: ATO-RECOVERY#escalate\n::s::Team?{\n=TM\n~%150%Sec\n}", 4, "outside -100%..100%"),
    ],
)
def test_bad_gift_is_an_error_on_its_line_and_nothing_is_imported(gift, line, fragment):
    bank, problems = gift_to_bank(gift.encode(), "bad.gift", bank_id="bad", title="Bad")
    assert bank is None
    assert any(p.is_error and p.line == line and fragment in p.message for p in problems), [str(p) for p in problems]


def test_skip_unsupported_leaves_out_what_cannot_be_graded_with_a_warning():
    gift = (
        "// source: ATO-RECOVERY#escalate\n::e::Describe.{}\n\n// source: ATO-RECOVERY#escalate\n::n::Hours?{#four}\n\n"
    )
    gift += "// source: ATO-RECOVERY#escalate\n::ok::Hours?{#4####Four.}\n"
    bank, problems = gift_to_bank(gift.encode(), "mixed.gift", bank_id="m", title="M", skip_unsupported=True)
    assert bank is not None and [q.id for q in bank.questions] == ["ok"]
    assert [(p.line, p.is_error) for p in problems] == [(2, False), (5, False)]


def test_a_gift_file_in_a_wrong_encoding_is_an_error_with_its_line():
    raw = "::a::Hours?{#4}\n\n::b::Délai ?{#4}\n".encode("cp1252")
    bank, problems = gift_to_bank(raw, "cp1252.gift", bank_id="x", title="X", default_source="ATO-RECOVERY#escalate")
    assert bank is None and problems[0].line == 3 and "not valid UTF-8" in problems[0].message


def test_a_matching_answer_that_starts_with_a_bracket_round_trips():
    data = {**question("matching"), "pairs": [{"prompt": "[A]", "answer": "[b]"}, {"prompt": "C", "answer": "d"}]}
    data["distractors"] = ["[e"]
    bank, _ = bank_with(data)
    again, _ = gift_to_bank(bank_to_gift(bank).encode(), "x.gift", bank_id=bank.id, title=bank.title)
    assert bank_to_data(again)["questions"] == bank_to_data(bank)["questions"]

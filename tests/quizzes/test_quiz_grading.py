"""Grading: exact scores per rule, clear errors for bad submissions, and properties over random banks."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quiz_strategies import any_answer, banks, reshuffled, right_answer, submissions

from kb_app.quizzes.draw import Attempt, DrawnQuestion, draw_attempt
from kb_app.quizzes.grading import SubmissionError, grade, review_view, short_answer_key
from kb_app.quizzes.schema import Bank


def whole_bank_attempt(bank: Bank, seed: int = 1) -> Attempt:
    return draw_attempt(bank.model_copy(update={"questions_per_attempt": len(bank.questions)}), seed)


@pytest.fixture
def full(good_bank):
    """The good bank drawn whole, so every question is in the attempt."""
    bank = good_bank.model_copy(update={"questions_per_attempt": len(good_bank.questions)})
    attempt = draw_attempt(bank, 11)
    keys = {d.question_id: d.key for d in attempt.questions}
    return bank, attempt, keys


def labels_for(attempt: Attempt, key: str, targets: list[str]) -> list[str]:
    by_target = {t: label for label, t in attempt.drawn(key).label_map().items()}
    return [by_target[t] for t in targets]


def all_right(bank, attempt) -> dict:
    return {d.key: right_answer(bank, d) for d in attempt.questions}


def test_all_right_scores_full_marks_and_passes(full):
    bank, attempt, _ = full
    result = grade(bank, attempt, all_right(bank, attempt))
    assert result.score == result.max_score == 6
    assert result.percent == 100.0 and result.passed
    assert all(q.correct and q.answered for q in result.questions)


def test_empty_submission_scores_zero(full):
    bank, attempt, _ = full
    result = grade(bank, attempt, {})
    assert result.score == 0 and not result.passed
    assert not any(q.answered or q.correct for q in result.questions)


def test_null_answer_counts_as_unanswered(full):
    bank, attempt, keys = full
    result = grade(bank, attempt, {keys["first-step"]: None})
    graded = next(q for q in result.questions if q.key == keys["first-step"])
    assert not graded.answered and graded.points_earned == 0


def test_single_choice_right_and_wrong(full):
    bank, attempt, keys = full
    key = keys["first-step"]
    right = labels_for(attempt, key, ["b"])[0]
    wrong = labels_for(attempt, key, ["a"])[0]
    assert grade(bank, attempt, {key: right}).score == 1
    assert grade(bank, attempt, {key: wrong}).score == 0


@pytest.mark.parametrize(
    "chosen, partial, all_or_nothing",
    [
        (["device", "billing"], 1.0, 1.0),
        (["device"], 0.5, 0.0),
        (["device", "name"], 0.0, 0.0),
        (["device", "billing", "name"], 0.5, 0.0),
        (["name"], 0.0, 0.0),
        ([], 0.0, 0.0),
    ],
)
def test_multiple_response_scoring_rules(full, chosen, partial, all_or_nothing):
    bank, attempt, keys = full
    key = keys["ownership-signals"]
    answer = labels_for(attempt, key, chosen)
    assert grade(bank, attempt, {key: answer}).score == partial
    strict = bank.model_copy(update={"multiple_scoring": "all_or_nothing"})
    strict_attempt = Attempt(strict.id, draw_attempt(strict, 0).bank_hash, attempt.seed, attempt.questions)
    assert grade(strict, strict_attempt, {key: answer}).score == all_or_nothing


def weighted_bank(weights: list[float]) -> Bank:
    return Bank.model_validate(
        {
            "id": "weighted",
            "title": "Weighted",
            "kind": "certification",
            "tier": "T2",
            "sops": ["ATO-RECOVERY"],
            "pass_mark": 50,
            "questions_per_attempt": 1,
            "time_limit_minutes": 5,
            "attempts_per_day": 1,
            "cooldown_hours": 0,
            "valid_days": 1,
            "review_shows_answers": False,
            "questions": [
                {
                    "id": "continents",
                    "type": "multiple",
                    "scoring": "weighted",
                    "source": "ATO-RECOVERY#verify-ownership",
                    "points": 3,
                    "stem": "Which are signals?",
                    "options": [{"text": f"option {i}", "weight": w} for i, w in enumerate(weights)],
                    "explanation": "Weights.",
                }
            ],
        }
    )


def test_weighted_scoring_sums_selected_weights_and_clamps():
    bank = weighted_bank([33.33333, 33.33333, 33.33333, -100.0])
    attempt = draw_attempt(bank, 0)
    by_target = {t: label for label, t in attempt.questions[0].label_map().items()}

    def score(*ids):
        return grade(bank, attempt, {"q1": [by_target[i] for i in ids]}).score

    assert score("a", "b", "c") == 3  # 99.99999% counts as all of it
    assert score("a") == pytest.approx(0.9999999)
    assert score("a", "d") == 0  # clamped at zero, never negative
    assert score("a", "b", "c", "d") == 0


def test_true_false_needs_a_real_boolean(full):
    bank, attempt, keys = full
    key = keys["attacker-session"]
    assert grade(bank, attempt, {key: False}).score == 1
    assert grade(bank, attempt, {key: True}).score == 0
    with pytest.raises(SubmissionError, match="expected true or false, got int"):
        grade(bank, attempt, {key: 0})
    with pytest.raises(SubmissionError, match="expected true or false, got str"):
        grade(bank, attempt, {key: "false"})


def test_ordering_scores_only_the_exact_order(full):
    bank, attempt, keys = full
    key = keys["reset-order"]
    right = labels_for(attempt, key, ["0", "1", "2", "3"])
    assert grade(bank, attempt, {key: right}).score == 2
    swapped = [right[1], right[0], *right[2:]]
    assert grade(bank, attempt, {key: swapped}).score == 0
    with pytest.raises(SubmissionError, match="put every item in order"):
        grade(bank, attempt, {key: right[:3]})


@pytest.mark.parametrize("typed", ["Threat Management", "  threat   MANAGEMENT ", "tm", "ＴＭ", "Threat\tManagement\n"])
def test_short_answer_ignores_case_whitespace_and_width(full, typed):
    bank, attempt, keys = full
    assert grade(bank, attempt, {keys["escalation-team"]: typed}).score == 1


@pytest.mark.parametrize("typed", ["Threat", "", "   ", "Threat Management team", "P&I"])
def test_short_answer_wrong_text(full, typed):
    bank, attempt, keys = full
    assert grade(bank, attempt, {keys["escalation-team"]: typed}).score == 0


def test_short_answer_without_unicode_normalization_still_ignores_case():
    assert short_answer_key("ＴＭ", unicode_normalize=False) != short_answer_key("TM", unicode_normalize=False)
    assert short_answer_key("Ｔｍ", unicode_normalize=True) == "tm"
    assert short_answer_key("  Straße ", unicode_normalize=False) == "strasse"


def test_pass_mark_boundary_is_exact(good_bank):
    questions = [q.model_copy(update={"points": 1}) for q in good_bank.questions]
    bank = good_bank.model_copy(update={"questions": questions, "pass_mark": 80})
    attempt = whole_bank_attempt(bank)
    answers = all_right(bank, attempt)
    del answers[attempt.questions[0].key]  # 4 of 5 = exactly 80%
    result = grade(bank, attempt, answers)
    assert result.percent == 80.0 and result.passed
    bank81 = bank.model_copy(update={"pass_mark": 81})
    attempt81 = whole_bank_attempt(bank81)
    answers81 = all_right(bank81, attempt81)
    del answers81[attempt81.questions[0].key]
    assert not grade(bank81, attempt81, answers81).passed


@pytest.mark.parametrize(
    "submission, message",
    [
        (["q1"], "must map question keys"),
        ({"q9": "a"}, "'q9', which is not a question of this attempt"),
        ({7: "a"}, "7, which is not a question of this attempt"),
        ({f"x{i}": "a" for i in range(500)}, "too many answers (500)"),
    ],
)
def test_submission_level_errors(full, submission, message):
    bank, attempt, _ = full
    with pytest.raises(SubmissionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        grade(bank, attempt, submission)


def test_answer_shape_errors_name_the_question(full):
    bank, attempt, keys = full
    single, multiple, ordering, short = (
        keys[k] for k in ("first-step", "ownership-signals", "reset-order", "escalation-team")
    )
    cases = [
        ({single: "z"}, f"{single}: unknown option id 'z' (options: a, b, c)"),
        ({single: ["a"]}, f"{single}: option ids are strings, got list"),
        ({single: "device"}, f"{single}: unknown option id 'device'"),  # bank option ids are not labels
        ({multiple: "a"}, f"{multiple}: expected a list of ids, got str"),
        ({multiple: ["a", "a"]}, f"{multiple}: the same id is given twice"),
        ({multiple: ["a", "b", "c", "d"]}, f"{multiple}: 4 ids given but the question has 3"),
        ({multiple: ["a", 1]}, f"{multiple}: option ids are strings, got int"),
        ({ordering: "abcd"}, f"{ordering}: expected a list of ids, got str"),
        ({short: 42}, f"{short}: expected text, got int"),
        ({short: "x" * 201}, f"{short}: answer is 201 characters; at most 200 are allowed"),
    ]
    for submission, message in cases:
        with pytest.raises(SubmissionError) as caught:
            grade(bank, attempt, submission)
        assert str(caught.value).startswith(message), (submission, str(caught.value))


def test_a_bad_answer_rejects_the_whole_submission(full):
    bank, attempt, keys = full
    answers = all_right(bank, attempt)
    answers[keys["first-step"]] = "zz"
    with pytest.raises(SubmissionError):
        grade(bank, attempt, answers)


def test_result_serializes_to_json(full):
    bank, attempt, _ = full
    data = grade(bank, attempt, all_right(bank, attempt)).to_dict()
    assert json.loads(json.dumps(data))["questions"][0]["points_max"] >= 1


def test_review_shows_answers_and_explanations_when_the_bank_allows(full):
    bank, attempt, keys = full
    review = review_view(
        bank,
        attempt,
        {keys["first-step"]: labels_for(attempt, keys["first-step"], ["a"])[0], keys["attacker-session"]: True},
    )
    items = {item["key"]: item for item in review["questions"]}
    first = items[keys["first-step"]]
    assert first["correct"] is False and first["explanation"].startswith("Ownership comes first")
    assert [o["correct"] for o in first["options"] if o["text"].startswith("Verify")] == [True]
    assert any("feedback" in o for o in first["options"])
    assert items[keys["attacker-session"]]["feedback"].startswith("Sessions survive")
    assert items[keys["reset-order"]]["right_order"] == labels_for(attempt, keys["reset-order"], ["0", "1", "2", "3"])
    assert items[keys["escalation-team"]]["accepted"] == ["Threat Management", "TM"]


def test_review_hides_answers_when_the_bank_says_so(full):
    bank, _, _ = full
    hidden = bank.model_copy(update={"review_shows_answers": False})
    attempt = whole_bank_attempt(hidden)
    review = review_view(hidden, attempt, {})
    text = json.dumps(review)
    assert review["shows_answers"] is False
    assert "explanation" not in text and '"accepted"' not in text and "right_order" not in text
    assert all("correct" not in o for item in review["questions"] for o in item.get("options", []))
    assert all(item["source"] for item in review["questions"])  # what to re-read is always shown


# --- properties -------------------------------------------------------------------------------

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.data())
def test_score_is_always_between_zero_and_max(data):
    bank = data.draw(banks())
    attempt = draw_attempt(bank, data.draw(st.integers()))
    result = grade(bank, attempt, data.draw(submissions(bank, attempt)))
    assert 0 <= result.score <= result.max_score
    for question in result.questions:
        assert 0 <= question.points_earned <= question.points_max
    assert 0 <= result.percent <= 100


@PROPERTY
@given(st.data())
def test_right_answers_score_full_marks(data):
    bank = data.draw(banks())
    attempt = draw_attempt(bank, data.draw(st.integers()))
    result = grade(bank, attempt, all_right(bank, attempt))
    assert result.score == result.max_score and result.passed
    assert all(q.correct for q in result.questions)


@PROPERTY
@given(st.data())
def test_grading_is_invariant_to_option_shuffling(data):
    bank = data.draw(banks())
    first = draw_attempt(bank, data.draw(st.integers()))
    second = reshuffled(first, data.draw(st.integers()))
    answers_first = data.draw(submissions(bank, first))
    # The same choices (by bank option id) expressed in the second attempt's labels.
    answers_second = {}
    for key, answer in answers_first.items():
        to_target = first.drawn(key).label_map()
        to_label = {t: label for label, t in second.drawn(key).label_map().items()}
        if isinstance(answer, dict):  # matching: prompt label -> answer label, both reshuffled
            prompt_of = {i: p for p, i in second.drawn(key).prompt_map().items()}
            choice_of = {i: c for c, i in second.drawn(key).choice_map().items()}
            prompts, choices = first.drawn(key).prompt_map(), first.drawn(key).choice_map()
            answers_second[key] = {
                prompt_of[prompts[p]]: (choice_of[choices[c]] if c is not None else None) for p, c in answer.items()
            }
        elif isinstance(answer, list):
            answers_second[key] = [to_label[to_target[a]] for a in answer]
        elif isinstance(answer, str) and to_target:
            answers_second[key] = to_label[to_target[answer]]
        else:
            answers_second[key] = answer
    a = grade(bank, first, answers_first)
    b = grade(bank, second, answers_second)
    assert [q.points_earned for q in a.questions] == [q.points_earned for q in b.questions]


@PROPERTY
@given(st.data())
def test_wrong_answers_never_beat_right_ones(data):
    bank = data.draw(banks())
    attempt = draw_attempt(bank, data.draw(st.integers()))
    right = grade(bank, attempt, all_right(bank, attempt))
    for drawn, right_grade in zip(attempt.questions, right.questions):
        other = grade(bank, attempt, {drawn.key: data.draw(any_answer(bank, drawn))})
        earned = next(q for q in other.questions if q.key == drawn.key).points_earned
        assert earned <= right_grade.points_earned


@PROPERTY
@given(st.data())
def test_garbage_submissions_raise_submission_error_or_grade(data):
    bank = data.draw(banks(max_questions=4))
    attempt = draw_attempt(bank, 0)
    junk = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(allow_nan=False),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_leaves=8,
    )
    submission = data.draw(st.dictionaries(st.sampled_from(list(attempt.keys) + ["q99"]), junk, max_size=5) | junk)
    try:
        result = grade(bank, attempt, submission)
    except SubmissionError:
        return
    assert 0 <= result.score <= result.max_score


def test_drawn_question_labels_follow_display_order():
    drawn = DrawnQuestion("q1", "x", ("c", "a", "b"))
    assert drawn.labels == ("a", "b", "c")
    assert drawn.label_map() == {"a": "c", "b": "a", "c": "b"}

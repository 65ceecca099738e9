"""Drawing attempts: deterministic per seed, spread over SOP sections, and a taker view with no keys."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from quiz_strategies import banks

from kb_app.quizzes.bank import bank_to_yaml, parse_bank
from kb_app.quizzes.draw import Attempt, AttemptMismatch, draw_attempt, taker_view
from kb_app.quizzes.schema import Matching, Numerical, Bank, Ordering, TrueFalse


def bank_with_sections(per_section: dict[str, int], questions_per_attempt: int) -> Bank:
    questions = []
    for source, count in per_section.items():
        for n in range(count):
            questions.append(
                {
                    "id": f"{source.split('#')[1]}-{n}",
                    "type": "true_false",
                    "source": source,
                    "stem": f"Statement {n} about {source}.",
                    "answer": n % 2 == 0,
                    "explanation": "Because the SOP says so.",
                }
            )
    return Bank.model_validate(
        {
            "id": "spread",
            "title": "Spread over sections",
            "kind": "certification",
            "tier": "T1",
            "sops": sorted({s.split("#")[0] for s in per_section}),
            "pass_mark": 80,
            "questions_per_attempt": questions_per_attempt,
            "time_limit_minutes": 10,
            "attempts_per_day": 3,
            "cooldown_hours": 1,
            "valid_days": 30,
            "review_shows_answers": True,
            "questions": questions,
        }
    )


def test_same_seed_same_attempt(good_bank):
    assert draw_attempt(good_bank, 42) == draw_attempt(good_bank, 42)
    assert draw_attempt(good_bank, "agent-17:3") == draw_attempt(good_bank, "agent-17:3")


def test_different_seeds_give_different_attempts(good_bank):
    attempts = {json.dumps(draw_attempt(good_bank, seed).to_dict()["questions"]) for seed in range(30)}
    assert len(attempts) > 10


def test_attempt_has_questions_per_attempt_distinct_questions(good_bank):
    bank = good_bank.model_copy(update={"questions_per_attempt": 3})
    for seed in range(50):
        attempt = draw_attempt(bank, seed)
        ids = [d.question_id for d in attempt.questions]
        assert len(ids) == 3 and len(set(ids)) == 3
        assert [d.key for d in attempt.questions] == ["q1", "q2", "q3"]


def test_draw_spreads_over_sections_round_robin():
    bank = bank_with_sections(
        {"ATO-RECOVERY#verify-ownership": 6, "ATO-RECOVERY#secure-account": 3, "TWO-STEP-RESET#reset-steps": 1}, 3
    )
    for seed in range(40):
        attempt = draw_attempt(bank, seed)
        sources = Counter(bank.question(d.question_id).source for d in attempt.questions)
        assert set(sources.values()) == {1}, sources  # one from each of the three sections


def test_draw_takes_more_from_big_sections_only_when_small_ones_run_out():
    bank = bank_with_sections(
        {"ATO-RECOVERY#verify-ownership": 6, "ATO-RECOVERY#secure-account": 3, "TWO-STEP-RESET#reset-steps": 1}, 7
    )
    for seed in range(40):
        attempt = draw_attempt(bank, seed)
        sources = Counter(bank.question(d.question_id).source for d in attempt.questions)
        assert sources == {
            "ATO-RECOVERY#verify-ownership": 3,
            "ATO-RECOVERY#secure-account": 3,
            "TWO-STEP-RESET#reset-steps": 1,
        }


def test_draw_picks_at_random_within_a_section():
    bank = bank_with_sections({"ATO-RECOVERY#verify-ownership": 5}, 1)
    picked = {draw_attempt(bank, seed).questions[0].question_id for seed in range(60)}
    assert len(picked) == 5


def test_options_are_shuffled_but_true_false_has_no_order(good_bank):
    orders = set()
    for seed in range(40):
        attempt = draw_attempt(good_bank, seed)
        for drawn in attempt.questions:
            question = good_bank.question(drawn.question_id)
            if isinstance(question, TrueFalse):
                assert drawn.order == ()
            if drawn.question_id == "first-step":
                assert sorted(drawn.order) == ["a", "b", "c"]
                orders.add(drawn.order)
    assert len(orders) > 1


def test_ordering_items_are_never_shown_in_the_right_order(good_bank):
    for seed in range(200):
        attempt = draw_attempt(good_bank, seed)
        for drawn in attempt.questions:
            if isinstance(good_bank.question(drawn.question_id), Ordering):
                assert drawn.order != ("0", "1", "2", "3")


def test_attempt_survives_json_round_trip(good_bank):
    attempt = draw_attempt(good_bank, 9)
    assert Attempt.from_dict(json.loads(json.dumps(attempt.to_dict()))) == attempt


def test_taker_view_refuses_an_attempt_of_an_edited_bank(good_bank):
    attempt = draw_attempt(good_bank, 1)
    edited = good_bank.model_copy(update={"pass_mark": 70})
    with pytest.raises(AttemptMismatch, match="changed since"):
        taker_view(edited, attempt)
    other = good_bank.model_copy(update={"id": "another-bank"})
    with pytest.raises(AttemptMismatch, match="belongs to bank"):
        taker_view(other, attempt)


def test_taker_view_shows_what_the_agent_needs(good_bank):
    view = taker_view(good_bank, draw_attempt(good_bank, 3))
    assert view["bank"] == {"id": "ato-recovery-t1", "title": good_bank.title, "kind": "certification", "tier": "T1"}
    assert view["time_limit_minutes"] == 20 and view["points_max"] == 6
    by_type = {q["type"]: q for q in view["questions"]}
    assert [o["id"] for o in by_type["single"]["options"]] == ["a", "b", "c"]
    assert {o["text"] for o in by_type["multiple"]["options"]} == {
        o.text for o in good_bank.question("ownership-signals").options
    }
    assert [i["id"] for i in by_type["ordering"]["items"]] == ["a", "b", "c", "d"]
    assert "options" not in by_type["true_false"] and by_type["short_answer"]["max_length"] == 200


# Everything below must never reach the agent before they submit.
FORBIDDEN_KEYS = {
    "correct",
    "weight",
    "feedback",
    "feedback_right",
    "feedback_wrong",
    "explanation",
    "accepted",
    "answer",
    "source",
    "question_id",
    "scoring",
    "order",
    "pairs",
    "answers",
    "distractors",
    "credit",
    "value",
    "tolerance",
    "min",
    "max",
}


def secrets_of(bank: Bank) -> list[str]:
    """Text that only the review may show: explanations, feedback, citations, bank ids."""
    found = []
    for question in bank.questions:
        found += [question.explanation, question.id, question.source]
        found += [o.feedback for o in getattr(question, "options", []) if o.feedback]
        found += [
            t for t in (getattr(question, "feedback_right", None), getattr(question, "feedback_wrong", None)) if t
        ]
    return found


def walk_values(value):
    if isinstance(value, dict):
        for inner in value.values():
            yield from walk_values(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from walk_values(inner)
    else:
        yield value


def walk_keys(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from walk_keys(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from walk_keys(inner)


def test_taker_view_json_has_no_answer_keys_or_explanations(good_bank):
    for seed in range(50):
        attempt = draw_attempt(good_bank, seed)
        view = taker_view(good_bank, attempt)
        text = json.dumps(view, ensure_ascii=False)
        assert not FORBIDDEN_KEYS & set(walk_keys(view))
        for secret in secrets_of(good_bank):
            assert secret not in text, secret
        assert not any(isinstance(v, bool) for v in walk_values(view))  # no flags of any kind
        for item in view["questions"]:
            for option in item.get("options", []) + item.get("items", []):
                assert option["id"] in "abcdefghijkl"  # per-attempt labels, never bank option ids
            if item["type"] == "short_answer":
                item_text = json.dumps(item, ensure_ascii=False)
                assert not any(a in item_text for a in good_bank.question("escalation-team").accepted)
            if item["type"] == "ordering":
                shown = [i["text"] for i in item["items"]]
                assert shown != good_bank.question("reset-order").items


def test_taker_view_of_a_bank_round_tripped_through_yaml_is_the_same(good_bank):
    again, _ = parse_bank(bank_to_yaml(good_bank).encode(), "again.yml")
    attempt = draw_attempt(good_bank, 5)
    assert taker_view(again, attempt) == taker_view(good_bank, attempt)


@settings(deadline=None)
@given(banks(), st.integers())
def test_generated_banks_taker_view_never_carries_keys(bank, seed):
    attempt = draw_attempt(bank, seed)
    assert len(attempt.questions) == bank.questions_per_attempt
    view = taker_view(bank, attempt)
    assert not FORBIDDEN_KEYS & set(walk_keys(view))
    json.dumps(view)
    for item, drawn in zip(view["questions"], attempt.questions):
        question = bank.question(drawn.question_id)
        if isinstance(question, Ordering):
            assert [i["text"] for i in item["items"]] != question.items
        if isinstance(question, Matching):  # each answer listed once, prompts and answers apart
            assert sorted(c["text"] for c in item["choices"]) == sorted(question.choices)
            assert sorted(p["text"] for p in item["prompts"]) == sorted(p.prompt for p in question.pairs)
            assert set(item) >= {"prompts", "choices"} and "pairs" not in item
        if isinstance(question, Numerical):
            assert set(item) == {"key", "number", "type", "points", "stem", "unit", "max_length", "answer_shape"}

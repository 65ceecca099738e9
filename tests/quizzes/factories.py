"""Small banks for tests that store attempts: every question type, answers right or wrong.

bank = make_bank(kind="update", sops=["ATO-RECOVERY"], version="2.0", cooldown_hours=0)
write_bank(quiz_dir, bank)                # quiz_dir/<id>.yml
answers_for(bank, drawn, right=True)      # a submission in the taker's labels
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kb_app.quizzes.bank import bank_to_yaml
from kb_app.quizzes.draw import Attempt
from kb_app.quizzes.schema import (
    Bank,
    Matching,
    MultipleResponse,
    Numerical,
    Ordering,
    ShortAnswer,
    SingleChoice,
    TrueFalse,
)


def questions(sop_id: str = "ATO-RECOVERY") -> list[dict[str, Any]]:
    """One question of each type; all cite sections of the sop_dir factory's default body."""
    return [
        {
            "id": "first-step",
            "type": "single",
            "source": f"{sop_id}#steps",
            "stem": "A caller says their account was hacked. What do you do first?",
            "options": [
                {"text": "Confirm the customer's identity", "correct": True, "feedback": "FEEDBACK-SECRET-1"},
                {"text": "Change the email address"},
                {"text": "Reset the password straight away"},
            ],
            "explanation": "EXPLANATION-SECRET-first-step",
        },
        {
            "id": "signals",
            "type": "multiple",
            "source": f"{sop_id}#steps",
            "stem": "Which of these count as ownership signals?",
            "options": [
                {"text": "Code sent to the sign-up email", "correct": True},
                {"text": "Trusted device", "correct": True},
                {"text": "Knowing the current password"},
                {"text": "A screenshot of the profile"},
            ],
            "explanation": "EXPLANATION-SECRET-signals",
        },
        {
            "id": "screenshots",
            "type": "true_false",
            "source": f"{sop_id}#purpose",
            "stem": "A screenshot of the profile proves ownership.",
            "answer": False,
            "feedback_wrong": "FEEDBACK-SECRET-tf",
            "explanation": "EXPLANATION-SECRET-screenshots",
        },
        {
            "id": "order",
            "type": "ordering",
            "source": f"{sop_id}#steps",
            "stem": "Put the recovery steps in order.",
            "items": ["Confirm identity", "Sign out sessions", "Reset the password"],
            "explanation": "EXPLANATION-SECRET-order",
        },
        {
            "id": "team",
            "type": "short_answer",
            "source": f"{sop_id}#purpose",
            "stem": "Which team handles extortion threats?",
            "accepted": ["Threat Management", "TM"],
            "explanation": "EXPLANATION-SECRET-team",
        },
    ]


def new_type_questions(sop_id: str = "ATO-RECOVERY") -> list[dict[str, Any]]:
    """A matching, a numerical and a partial-credit short answer question (sections of the default body)."""
    return [
        {
            "id": "route",
            "type": "matching",
            "source": f"{sop_id}#steps",
            "stem": "Match each situation to the team it goes to.",
            "pairs": [
                {"prompt": "Attacker signs in again after recovery", "answer": "Threat Management"},
                {"prompt": "A one-time code pasted into the chat", "answer": "Privacy & Investigations"},
                {"prompt": "Only one strong signal", "answer": "Tier 2 review"},
            ],
            "distractors": ["Policy"],
            "explanation": "EXPLANATION-SECRET-route",
        },
        {
            "id": "hours",
            "type": "numerical",
            "source": f"{sop_id}#purpose",
            "stem": "How many hours does Threat Management have for a re-compromise?",
            "unit": "hours",
            "answers": [{"value": 4}, {"min": 3, "max": 5, "credit": 50, "feedback": "FEEDBACK-SECRET-hours"}],
            "explanation": "EXPLANATION-SECRET-hours",
        },
        {
            "id": "who",
            "type": "short_answer",
            "source": f"{sop_id}#purpose",
            "stem": "Which team takes extortion cases?",
            "accepted": ["Threat Management", {"text": "Security", "credit": 50, "feedback": "FEEDBACK-SECRET-who"}],
            "explanation": "EXPLANATION-SECRET-who",
        },
    ]


def make_new_types_bank(bank_id: str = "cert-new-types", **kwargs: Any) -> Bank:
    """Every question type; an attempt draws all eight."""
    data = bank_data(bank_id, **kwargs)
    data["questions"] = data["questions"] + new_type_questions((data["sops"])[0])
    data.setdefault("questions_per_attempt", 8)
    data["questions_per_attempt"] = kwargs.get("questions_per_attempt", 8)
    return Bank.model_validate(data)


def bank_data(
    bank_id: str = "cert-t1",
    *,
    kind: str = "certification",
    tier: str = "T1",
    sops: list[str] | None = None,
    version: str | None = None,
    **policy: Any,
) -> dict[str, Any]:
    sops = sops or ["ATO-RECOVERY"]
    data: dict[str, Any] = {
        "id": bank_id,
        "title": f"Bank {bank_id}",
        "kind": kind,
        "tier": tier,
        "sops": sops,
        "pass_mark": 80,
        "questions_per_attempt": 5,
        "time_limit_minutes": 20,
        "attempts_per_day": 3,
        "cooldown_hours": 24,
        "valid_days": 365,
        "review_shows_answers": True,
        "questions": [q for sop_id in sops for q in _prefixed(questions(sop_id), sop_id, len(sops) > 1)],
    }
    if version is not None:
        data["version"] = version
    data.update(policy)
    return data


def _prefixed(items: list[dict], sop_id: str, prefix: bool) -> list[dict]:
    if prefix:
        for item in items:
            item["id"] = f"{sop_id.lower()}-{item['id']}"
    return items


def make_bank(bank_id: str = "cert-t1", **kwargs: Any) -> Bank:
    return Bank.model_validate(bank_data(bank_id, **kwargs))


def write_bank(quiz_dir: Path, bank: Bank) -> Path:
    quiz_dir.mkdir(parents=True, exist_ok=True)
    path = quiz_dir / f"{bank.id}.yml"
    path.write_text(bank_to_yaml(bank), encoding="utf-8")
    return path


def answers_for(
    bank: Bank, drawn: Attempt | dict, *, right: bool = True, wrong_keys: set[str] = frozenset()
) -> dict[str, Any]:
    """A submission for the drawn attempt: all right (or all wrong), except `wrong_keys` wrong."""
    if isinstance(drawn, dict):
        drawn = Attempt.from_dict(drawn)
    submission: dict[str, Any] = {}
    for item in drawn.questions:
        question = bank.question(item.question_id)
        good = right and item.key not in wrong_keys
        labels = item.label_map()
        if isinstance(question, SingleChoice):
            wanted = [ln for ln, oid in labels.items() if question.option(oid).is_correct == good]
            submission[item.key] = wanted[0]
        elif isinstance(question, MultipleResponse):
            submission[item.key] = [ln for ln, oid in labels.items() if question.option(oid).is_correct == good]
        elif isinstance(question, TrueFalse):
            submission[item.key] = question.answer if good else not question.answer
        elif isinstance(question, Ordering):
            by_index = {int(index): label for label, index in labels.items()}
            order = [by_index[i] for i in range(len(question.items))]
            submission[item.key] = order if good else list(reversed(order))
        elif isinstance(question, ShortAnswer):
            submission[item.key] = question.accepted_texts[0] if good else "no idea"
        elif isinstance(question, Matching):
            choices = {index: label for label, index in item.choice_map().items()}
            pairs = {p: choices[question.choice_index(question.pairs[i].answer)] for p, i in item.prompt_map().items()}
            if not good:  # every prompt matched with the distractor or a wrong answer
                wrong = [c for c in item.choice_labels if c not in pairs.values()] or list(item.choice_labels)
                pairs = dict.fromkeys(pairs, wrong[0])
            submission[item.key] = pairs
        elif isinstance(question, Numerical):
            full = next(a for a in question.answers if a.credit == 100)
            submission[item.key] = (full.value if full.value is not None else full.min) if good else -1
    return submission


SECRETS = ("EXPLANATION-SECRET", "FEEDBACK-SECRET")

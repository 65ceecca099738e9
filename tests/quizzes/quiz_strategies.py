"""Hypothesis strategies for valid banks and submissions, shared by the draw, grading and GIFT tests."""

from __future__ import annotations

from hypothesis import strategies as st

from kb_app.quizzes.bank import normalize_text
from kb_app.quizzes.draw import Attempt, DrawnQuestion
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

QUESTION_KINDS = ["single", "multiple", "true_false", "ordering", "short_answer", "matching", "numerical"]
CREDITS = [100.0, 50.0, 25.0, 33.33333, 0.0]
NUMBERS = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False) | st.integers(-5000, 5000).map(float)

SOURCES = ["ATO-RECOVERY#verify-ownership", "ATO-RECOVERY#secure-account", "TWO-STEP-RESET#reset-steps"]
# GIFT's control characters, format-marker and weight look-alikes, comment slashes, new lines.
SPECIALS = "~=#{}:\\[]%->/_ \n\tTF*"
PLAIN = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc", "Co", "Zl", "Zp"),
)


def texts(max_size: int = 30) -> st.SearchStrategy[str]:
    return (
        st.text(st.one_of(PLAIN, st.sampled_from(SPECIALS)), min_size=1, max_size=max_size).map(str.strip).filter(bool)
    )


def distinct_texts(min_size: int, max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(texts(), min_size=min_size, max_size=max_size, unique_by=normalize_text)


@st.composite
def question_data(draw, question_id: str, kind: str | None = None) -> dict:
    kind = kind or draw(st.sampled_from(QUESTION_KINDS))
    data = {
        "id": question_id,
        "type": kind,
        "source": draw(st.sampled_from(SOURCES)),
        "points": draw(st.integers(1, 5)),
        "stem": draw(texts(60)),
        "explanation": draw(texts(60)),
    }
    maybe_text = st.none() | texts()
    if kind == "single":
        option_texts = draw(distinct_texts(2, 6))
        right = draw(st.integers(0, len(option_texts) - 1))
        data["options"] = [
            {"text": t, "correct": i == right, "feedback": draw(maybe_text)} for i, t in enumerate(option_texts)
        ]
    elif kind == "multiple":
        option_texts = draw(distinct_texts(2, 6))
        flags = draw(st.lists(st.booleans(), min_size=len(option_texts), max_size=len(option_texts)).filter(any))
        scoring = draw(st.sampled_from(["partial", "all_or_nothing", "weighted"]))
        data["scoring"] = scoring
        options = []
        right = flags.count(True)
        share, rest = divmod(100, right)
        first_right = flags.index(True)
        for i, (t, flag) in enumerate(zip(option_texts, flags)):
            option = {"text": t, "feedback": draw(maybe_text)}
            if scoring == "weighted":
                option["weight"] = (
                    float(share + (rest if i == first_right else 0))
                    if flag
                    else draw(st.sampled_from([0.0, -50.0, -100.0, -33.5]))
                )
            else:
                option["correct"] = flag
            options.append(option)
        data["options"] = options
    elif kind == "true_false":
        data["answer"] = draw(st.booleans())
        data["feedback_right"] = draw(maybe_text)
        data["feedback_wrong"] = draw(maybe_text)
    elif kind == "ordering":
        data["items"] = draw(distinct_texts(2, 6))
    elif kind == "matching":
        arrowless = st.lists(texts().filter(lambda t: "->" not in t), min_size=2, max_size=8, unique_by=normalize_text)
        prompts = draw(arrowless)
        answers = draw(st.lists(texts().filter(lambda t: "->" not in t), min_size=len(prompts), max_size=len(prompts)))
        data["pairs"] = [{"prompt": p, "answer": a} for p, a in zip(prompts, answers)]
        used = {normalize_text(a) for a in answers}
        extra = draw(st.lists(texts().filter(lambda t: "->" not in t), max_size=3, unique_by=normalize_text))
        data["distractors"] = [t for t in extra if normalize_text(t) not in used]
        data["scoring"] = draw(st.sampled_from(["partial", "all_or_nothing"]))
    elif kind == "numerical":
        data["answers"] = [draw(numeric_answer(full=True))] + draw(st.lists(numeric_answer(), max_size=3))
        data["unit"] = draw(st.none() | st.sampled_from(["hours", "minutes", "days", "%"]))
    else:
        accepted = draw(distinct_texts(1, 4))
        entries = []
        for index, text in enumerate(accepted):
            credit = 100.0 if index == 0 else draw(st.sampled_from(CREDITS))
            feedback = draw(maybe_text) if credit else draw(texts())
            entries.append(
                text if credit == 100 and feedback is None else {"text": text, "credit": credit, "feedback": feedback}
            )
        data["accepted"] = entries
        data["unicode_normalize"] = draw(st.booleans())
    return data


@st.composite
def numeric_answer(draw, full: bool = False) -> dict:
    credit = 100.0 if full else draw(st.sampled_from(CREDITS))
    if draw(st.booleans()):
        low, high = sorted([draw(NUMBERS), draw(NUMBERS)])
        answer = {"min": low, "max": high}
    else:
        answer = {"value": draw(NUMBERS)}
        tolerance = draw(st.none() | st.floats(0, 1000, allow_nan=False))
        if tolerance is not None:
            answer["tolerance"] = tolerance
    answer["credit"] = credit
    feedback = draw(st.none() | texts()) if credit else draw(texts())
    if feedback is not None:
        answer["feedback"] = feedback
    return answer


@st.composite
def banks(draw, min_questions: int = 1, max_questions: int = 8, kind: str | None = None) -> Bank:
    count = draw(st.integers(min_questions, max_questions))
    questions = [draw(question_data(f"q{i}", kind)) for i in range(1, count + 1)]
    return Bank.model_validate(
        {
            "id": "generated-bank",
            "title": "Generated bank",
            "kind": "certification",
            "tier": draw(st.sampled_from(["T1", "T2"])),
            "sops": ["ATO-RECOVERY", "TWO-STEP-RESET"],
            "pass_mark": draw(st.integers(1, 100)),
            "questions_per_attempt": draw(st.integers(1, count)),
            "time_limit_minutes": 20,
            "attempts_per_day": 3,
            "cooldown_hours": 12,
            "valid_days": 365,
            "review_shows_answers": draw(st.booleans()),
            "multiple_scoring": draw(st.sampled_from(["partial", "all_or_nothing", "weighted"])),
            "questions": questions,
        }
    )


# --- answers -------------------------------------------------------------------------------------


def right_answer(bank: Bank, drawn: DrawnQuestion):
    """The answer that must earn full points, in the attempt's labels."""
    question = bank.question(drawn.question_id)
    by_target = {target: label for label, target in drawn.label_map().items()}
    if isinstance(question, SingleChoice):
        return next(by_target[o.id] for o in question.options if o.is_correct)
    if isinstance(question, MultipleResponse):
        return [by_target[o.id] for o in question.options if o.is_correct]
    if isinstance(question, TrueFalse):
        return question.answer
    if isinstance(question, Ordering):
        return [by_target[str(i)] for i in range(len(question.items))]
    if isinstance(question, Matching):
        prompts = {index: label for label, index in drawn.prompt_map().items()}
        choices = {index: label for label, index in drawn.choice_map().items()}
        return {prompts[i]: choices[question.choice_index(p.answer)] for i, p in enumerate(question.pairs)}
    if isinstance(question, Numerical):
        full = next(a for a in question.answers if a.credit == 100)
        return full.min if full.is_range else full.value
    assert isinstance(question, ShortAnswer)
    return next(a.text for a in question.answers() if a.credit == 100)


@st.composite
def any_answer(draw, bank: Bank, drawn: DrawnQuestion):
    """Any well-formed answer to one drawn question (right, wrong or partly right)."""
    question = bank.question(drawn.question_id)
    labels = list(drawn.labels)
    if isinstance(question, SingleChoice):
        return draw(st.sampled_from(labels))
    if isinstance(question, MultipleResponse):
        return draw(st.lists(st.sampled_from(labels), unique=True, max_size=len(labels)))
    if isinstance(question, TrueFalse):
        return draw(st.booleans())
    if isinstance(question, Ordering):
        return draw(st.permutations(labels))
    if isinstance(question, Matching):
        chosen = st.none() | st.sampled_from(list(drawn.choice_labels))
        return {p: draw(chosen) for p in drawn.prompt_labels if draw(st.booleans())}
    if isinstance(question, Numerical):
        return draw(NUMBERS | st.sampled_from([a.value for a in question.answers if a.value is not None] or [0.0]))
    return draw(st.one_of(st.sampled_from(question.accepted_texts), st.text(max_size=40)))


@st.composite
def submissions(draw, bank: Bank, attempt: Attempt) -> dict:
    answers = {}
    for drawn in attempt.questions:
        if draw(st.booleans()) or draw(st.booleans()):
            answers[drawn.key] = draw(any_answer(bank, drawn))
    return answers


def reshuffled(attempt: Attempt, permutation_seed: int) -> Attempt:
    """The same questions with every option list in another order (as another draw might show them)."""
    import random

    rng = random.Random(permutation_seed)
    questions = []
    for drawn in attempt.questions:
        order, choices = list(drawn.order), list(drawn.choices)
        rng.shuffle(order)
        rng.shuffle(choices)
        questions.append(DrawnQuestion(drawn.key, drawn.question_id, tuple(order), tuple(choices)))
    return Attempt(attempt.bank_id, attempt.bank_hash, attempt.seed, tuple(questions))

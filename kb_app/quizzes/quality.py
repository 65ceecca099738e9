"""Quality rules for question banks, checked against the text of the sections questions cite.

- **Answerable from the cited section** (warning): at least half of the key terms of the correct
  answer appear in the section the question cites, as a reader of the bank's tier sees it; the
  warning lists the terms that are missing.
- **No give-aways** (error): a question's stem or options must not print another question's answer
  in the same bank (drawn together, one answers the other): an accepted short answer, the full
  text of a correct option (unless the wrong options are printed beside it), or the number that
  tells a correct option from the wrong ones.
- **Ordering follows the section** (error): the items of an ordering question appear in the cited
  section in the order the question calls right.

Key terms are lower-cased words of four letters or more that are not common words, plus codes
and numbers (S1, RF12, 72h, 24); words match on their first five letters, so "recover" finds
"recovery".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from kb_app.quizzes.normalize import normalize_text
from kb_app.quizzes.schema import Bank, Matching, Numerical, Ordering, ShortAnswer, TrueFalse, _ChoiceQuestion
from kb_app.quizzes.yaml_source import Loc

# tier -> SOP id -> section anchor -> section text (as that tier reads it)
SectionTexts = Mapping[str, Mapping[str, Mapping[str, str]]]

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]*|\d+[a-z]?")
_NUMBER = re.compile(r"\b(\d+)\s*(?:-\s*)?(hours?|h|days?|d|business days?|minutes?|m|percent|%)?\b", re.IGNORECASE)
_COMMON_WORDS = """
    about above after again against also although always another answer anyone anything because
    been before being below between both cannot could does doing done down during each either else
    even every first from further have having here into just least less like make many more most
    must next none only other ours over same should since some still such than that their them then
    there these they this those through under until upon very want were what when where whether which
    while will with within without would your yours yourself customer customers agent account
    accounts case tell told says said asks ask now once own because given give gets keep keeps whose
    using uses used
    """
STOPWORDS = frozenset(_COMMON_WORDS.split())


@dataclass(frozen=True)
class Term:
    text: str
    stem: str


def terms(text: str) -> list[Term]:
    return list(_terms(text))


@lru_cache(maxsize=8192)
def _terms(text: str) -> tuple[Term, ...]:
    found: dict[str, Term] = {}
    for raw in _WORD.findall(text):
        word = raw.strip("'-").lower()
        if not word:
            continue
        is_code = bool(re.fullmatch(r"[a-z]{1,3}\d+[a-z]?|\d+[a-z]?", word))
        if not is_code and (len(word) < 4 or word in STOPWORDS):
            continue
        stem = word if is_code or len(word) <= 5 else word[:5]
        found.setdefault(stem, Term(word, stem))
    return tuple(found.values())


@lru_cache(maxsize=8192)
def _stems(text: str) -> frozenset[str]:
    return frozenset(t.stem for t in _terms(text))


@lru_cache(maxsize=8192)
def _normalized(text: str) -> str:
    return normalize_text(text)


def _contains_phrase(haystack: str, phrase: str) -> bool:
    """`phrase` appears in `haystack` as whole words (case- and spacing-insensitive)."""
    needle = _normalized(phrase)
    if not needle:
        return False
    hay = _normalized(haystack)
    return needle in hay and re.search(rf"(?<![\w]){re.escape(needle)}(?![\w])", hay) is not None


def _visible_text(question) -> str:
    """What a taker sees of a question during the attempt: the stem and the answer choices."""
    parts = [question.stem]
    if isinstance(question, _ChoiceQuestion):
        parts.extend(o.text for o in question.options)
    elif isinstance(question, Ordering):
        parts.extend(question.items)
    elif isinstance(question, Matching):
        parts.extend(pair.prompt for pair in question.pairs)
        parts.extend(question.choices)
    return "\n".join(parts)


def correct_text(question) -> str:
    if isinstance(question, _ChoiceQuestion):
        return " ".join(o.text for o in question.options if o.is_correct)
    if isinstance(question, ShortAnswer):
        return " ".join(question.accepted_texts)
    if isinstance(question, Ordering):
        return " ".join(question.items)
    if isinstance(question, Matching):
        return " ".join(f"{pair.prompt} {pair.answer}" for pair in question.pairs)
    return ""


def section_text(texts: SectionTexts, bank: Bank, question) -> str | None:
    return texts.get(bank.tier, {}).get(question.sop_id, {}).get(question.anchor)


# --- rule 1: the cited section answers the question -----------------------------------------


def check_answerable(bank: Bank, texts: SectionTexts, warning: Callable[[Loc, str], None]) -> None:
    for index, question in enumerate(bank.questions):
        if isinstance(question, (TrueFalse, Numerical)):
            continue  # the key is true/false or a number; the stem is the scenario
        section = section_text(texts, bank, question)
        if section is None:
            continue
        present = _stems(section)
        if isinstance(question, ShortAnswer):
            # Any accepted answer will do; the best-covered one is judged.
            candidates = [terms(a) for a in question.accepted_texts]
            key = max(candidates, key=lambda ts: sum(t.stem in present for t in ts) / max(len(ts), 1))
        else:
            key = terms(correct_text(question))
        if not key:
            continue
        missing = [t.text for t in key if t.stem not in present]
        if len(missing) * 2 > len(key):
            warning(
                ("questions", index, "source"),
                f"question `{question.id}`: the cited section {question.source} does not contain most key terms "
                f"of the correct answer (missing: {', '.join(missing)}); cite the section that answers it",
            )


# --- rule 2: no question gives away another's answer ------------------------------------------


@lru_cache(maxsize=8192)
def _number_phrases(text: str) -> frozenset[str]:
    return frozenset(m.group(0).strip().lower() for m in _NUMBER.finditer(text) if m.group(2))


def giveaways(question, sibling) -> str | None:
    """Why `sibling`'s stem or options give away `question`'s answer, or None."""
    shown = _visible_text(sibling)
    if isinstance(question, ShortAnswer):
        for accepted in question.accepted_texts:
            has_word = any(len(t.text) >= 4 and not t.text.isdigit() for t in terms(accepted))
            if (has_word or _number_phrases(accepted)) and _contains_phrase(shown, accepted):
                return f"prints the accepted answer {accepted!r}"
        return None
    if not isinstance(question, _ChoiceQuestion):
        return None
    wrong = " ".join(o.text for o in question.options if not o.is_correct)
    for option in question.options:
        if not option.is_correct:
            continue
        # Printing the correct option is telling only when the wrong ones are not printed beside it.
        prints_wrong = any(_contains_phrase(shown, o.text) for o in question.options if not o.is_correct)
        if len(normalize_text(option.text).split()) >= 3 and _contains_phrase(shown, option.text) and not prints_wrong:
            return f"prints the correct option {option.text!r}"
        telling = _number_phrases(option.text) - _number_phrases(wrong) - _number_phrases(question.stem)
        for phrase in sorted(telling):
            if _contains_phrase(shown, phrase):
                return f"states {phrase!r}, which is what tells the correct option {option.text!r} from the others"
    return None


def check_giveaways(bank: Bank, error: Callable[[Loc, str], None]) -> None:
    for index, question in enumerate(bank.questions):
        for other_index, sibling in enumerate(bank.questions):
            if other_index == index:
                continue
            why = giveaways(question, sibling)
            if why:
                error(
                    ("questions", other_index, "stem"),
                    f"question `{sibling.id}` gives away the answer to `{question.id}` in the same bank: it {why}",
                )


# --- rule 3: ordering questions follow the section's order -------------------------------------


def _locate(item: str, lines: list[str]) -> int | None:
    """Index of the section line that best matches an item (at least half its key terms), or None."""
    key = {t.stem for t in terms(item)}
    if not key:
        return None
    best, best_score = None, 0.0
    for number, line in enumerate(lines):
        score = len(key & _stems(line)) / len(key)
        if score > best_score:
            best, best_score = number, score
    return best if best_score >= 0.5 else None


def check_ordering(bank: Bank, texts: SectionTexts, error: Callable[[Loc, str], None]) -> None:
    for index, question in enumerate(bank.questions):
        if not isinstance(question, Ordering):
            continue
        section = section_text(texts, bank, question)
        if section is None:
            continue
        lines = [line for line in section.splitlines() if line.strip()]
        located = [_locate(item, lines) for item in question.items]
        if any(p is None for p in located):
            lost = [item for item, p in zip(question.items, located) if p is None]
            error(
                ("questions", index, "items"),
                f"ordering question `{question.id}`: {question.source} does not describe "
                + "; ".join(repr(i) for i in lost)
                + ", so the order cannot be checked against it",
            )
            continue
        positions = [p for p in located if p is not None]
        section_order = [item for _, item in sorted(zip(positions, question.items), key=lambda pair: pair[0])]
        if section_order != list(question.items):
            error(
                ("questions", index, "items"),
                f"ordering question `{question.id}` does not follow the order of {question.source}, which is: "
                + " -> ".join(repr(i) for i in section_order),
            )

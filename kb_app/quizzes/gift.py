"""GIFT (Moodle's plain-text quiz format) to question banks and back.

Reading follows Moodle's own rules (question/format/gift/format.php), so a file splits into the
same questions and each gets the same Moodle type:

- Questions are separated by blank lines. Lines starting with `//` are comments. A block that is
  `$CATEGORY: name` sets the category of the questions after it (kept on the parse, not in banks).
- `::name::` names a question; `[html]`, `[moodle]`, `[plain]`, `[markdown]` before a text is its
  format marker (removed; the text is kept as written: bank text is Markdown, which allows HTML).
- The first `{...}` is the answer block. Text after it makes a "missing word" question: the block
  is replaced by `_____` in the stem (accepted for every type below).
- Escapes: `\\~ \\= \\# \\{ \\} \\:` stand for the character, `\\\\` for a backslash, `\\n` for a
  new line. `#` starts an answer's feedback, `####` the general feedback.
- Moodle type: no block = description, `{}` = essay, `{#...}` = numerical, any `~` = multiple
  choice (single when it has a `=`), `=` with `->` = matching, T/TRUE/F/FALSE = true/false, else
  short answer.

Mapping to bank question types (anything else is refused with its line):

| GIFT | bank type | refused when |
| --- | --- | --- |
| multiple choice with `=` | `single` | not exactly one right answer; partial or negative weights |
| multiple choice without `=` | `multiple`, scoring `weighted` (or the `// scoring:` comment) | - |
| true/false `{T}` `{FALSE#wrong#right}` | `true_false` (`#wrong#right` feedback) | - |
| short answer `{=a =%50%b#fb}` | `short_answer`, partial credit and feedback per answer | negative weights, a `*` wildcard with credit |
| matching `{=a -> x =b -> y = -> z}` | `matching` (`= -> z` is a distractor) | - |
| matching `{=a -> 1 =b -> 2}` | `ordering` (right-hand sides exactly the positions 1..N) | - |
| numerical `{#4}` `{#4:0.5}` `{#3..5}` `{#=4 =%50%3..5#fb}` | `numerical` | a value that is not a number, negative tolerance or weight |
| essay, description | - | always (not auto-gradable) |

An ordering question is written as matching items to their positions; a matching question whose
answers happen to be 1..N carries a `// type: matching` comment so it does not read back as one.
A 0 % answer (`=%0%Cat#No, a dog`) is a known wrong answer kept for its feedback; a 0 % catch-all
(`=%0%*#...` in a short answer, `~#...` in a numerical one) has no place in a bank and is dropped
with a warning.

GIFT has no field for what a bank needs beyond the question, so the writer keeps it in comment
lines right above the question, and the reader takes them back (only `source` is always there):

    // source: ATO-RECOVERY#verify-ownership
    // points: 2
    // scoring: partial              (multiple response: partial, all_or_nothing or weighted)
    // option_ids: signals, device   (when the bank's option ids are not a, b, c ...)
    // unicode_normalize: false      (short answer)
    // unit: hours                   (numerical)
    // type: matching                (matching whose answers read like positions 1..N)
    ::signals-needed::Which signals prove ownership?{ ... }

The question name is the bank question id (a Moodle `[id:...]` comment wins over the name).
Without a `source` comment the importer uses its default source (`--source`). General feedback
(`####`) is the explanation; a question without one is imported with a warning, which `kb validate`
keeps showing until the explanation is written.

GIFT carries no bank settings either: `gift_to_bank` fills them from `DEFAULT_POLICY` (pass mark
80, 20 minutes, 3 attempts a day, 24 h cool-down, valid 365 days, review shows answers) and draws
`min(10, questions)` per attempt; edit the written YAML to change them. `$CATEGORY:` lines are read
(each question knows its category) but banks have no categories, so they are not kept.

Malformed GIFT (an unclosed brace or name, a stray brace, unknown answer markers, bad weights, a
file that is not UTF-8) is an error naming the line, and `gift_to_bank` then returns no bank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from kb_app.problems import Problem
from kb_app.quizzes.bank import Sections, Versions, Visible, check_bank, schema_problems
from kb_app.quizzes.schema import (
    QUESTION_ID,
    SOURCE,
    Bank,
    Matching,
    MultipleResponse,
    Numerical,
    Ordering,
    ShortAnswer,
    SingleChoice,
    TrueFalse,
    default_option_id,
)
from kb_app.quizzes.yaml_source import YamlSource, decode_utf8

FORMATS = ("moodle", "html", "plain", "markdown")
TRUE_FALSE = {"T": True, "TRUE": True, "F": False, "FALSE": False}
BLANK = "_____"

# Escaped characters become private-use placeholders while the structure is parsed.
_ESCAPES = {
    "\\": "\ue000",
    "~": "\ue001",
    "=": "\ue002",
    "#": "\ue003",
    "{": "\ue004",
    "}": "\ue005",
    ":": "\ue006",
    "n": "\ue007",
}
_RESTORE = {v: ("\n" if k == "n" else k) for k, v in _ESCAPES.items()}
_PLACEHOLDER = re.compile("[\ue000-\ue007]")
_WEIGHT = re.compile(r"^%(-?\d+(?:\.\d+)?)%")
_FORMAT = re.compile(r"^\s*\[(" + "|".join(FORMATS) + r")\]")
_META = re.compile(r"^\s*(source|points|scoring|unicode_normalize|option_ids|unit|type)\s*:\s*(.*?)\s*$")
_NUMERIC = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_IDNUMBER = re.compile(r"\[id:((?:\\\]|[^\]\n])+)\]")
_TAG = re.compile(r"\[tag:((?:\\\]|[^\]\n])+)\]")
_MARKER_LIKE = set("+-*!@^><|")

DEFAULT_POLICY = {
    "pass_mark": 80,
    "time_limit_minutes": 20,
    "attempts_per_day": 3,
    "cooldown_hours": 24,
    "valid_days": 365,
    "review_shows_answers": True,
}
DEFAULT_QUESTIONS_PER_ATTEMPT = 10


# --- parse ------------------------------------------------------------------------------------


@dataclass
class GiftAnswer:
    line: int
    marker: str  # "=", "~" or "" (an unmarked short answer)
    text: str
    weight: float | None = None  # percent as written
    feedback: str | None = None
    match: str | None = None  # right-hand side of a matching pair


@dataclass
class GiftItem:
    """One block of a GIFT file: a category line or a question (possibly malformed: `error`)."""

    line: int
    kind: str  # "category" or "question"
    category: str | None = None
    name: str | None = None
    idnumber: str | None = None
    tags: list[str] = field(default_factory=list)
    stem: str = ""
    stem_format: str = "moodle"
    qtype: str | None = None  # multichoice, truefalse, shortanswer, match, numerical, essay, description
    single: bool | None = None
    missing_word: bool = False
    answers: list[GiftAnswer] = field(default_factory=list)
    tf_answer: bool | None = None
    tf_feedback_wrong: str | None = None
    tf_feedback_right: str | None = None
    numerical_wrong_feedback: str | None = None  # `~#...`: feedback for any other number
    general_feedback: str | None = None
    meta: dict[str, tuple[str, int]] = field(default_factory=dict)  # our comment convention: key -> (value, line)
    error: Problem | None = None

    @property
    def moodle_type(self) -> str | None:
        if self.qtype == "multichoice":
            return "multichoice(single)" if self.single else "multichoice(multi)"
        return self.qtype


@dataclass
class GiftDocument:
    path: str
    items: list[GiftItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def questions(self) -> list[GiftItem]:
        return [item for item in self.items if item.kind == "question"]

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)


class _Malformed(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def parse_gift(raw: bytes | str, path: str = "<gift>") -> GiftDocument:
    """Split GIFT text into items. Never raises: problems (with lines) are in `.problems`."""
    doc = GiftDocument(path)
    if isinstance(raw, bytes):
        text, problem = decode_utf8(raw, path, "GIFT file")
        if problem:
            doc.problems.append(problem)
            return doc
    else:
        text = raw.removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, start=1):
        if _PLACEHOLDER.search(line):
            doc.problems.append(
                Problem.error(path, number, "private-use characters U+E000..U+E007 are not allowed in GIFT")
            )
            return doc

    category = None
    for block in _blocks(lines):
        try:
            item = _parse_block(block, category)
        except _Malformed as exc:
            problem = Problem.error(path, exc.line, exc.message)
            doc.problems.append(problem)
            item = GiftItem(line=_first_content_line(block), kind="question", category=category, error=problem)
        if item is None:
            continue
        if item.kind == "category":
            category = item.category
        doc.items.append(item)
    return doc


def _blocks(lines: list[str]) -> list[list[tuple[int, str]]]:
    blocks, current = [], []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            current.append((number, line))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("//")


def _first_content_line(block: list[tuple[int, str]]) -> int:
    return next((n for n, line in block if not _is_comment(line)), block[0][0])


def _escape_placeholders(line: str) -> str:
    out, i = [], 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line) and line[i + 1] in _ESCAPES:
            out.append(_ESCAPES[line[i + 1]])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _restore(text: str) -> str:
    return _PLACEHOLDER.sub(lambda m: _RESTORE[m.group(0)], text)


def _clean(text: str) -> tuple[str, str]:
    """(text without its format marker, restored and stripped; the format)."""
    match = _FORMAT.match(text)
    fmt = "moodle"
    if match:
        fmt, text = match.group(1), text[match.end() :]
    return _restore(text).strip(), fmt


def _parse_block(block: list[tuple[int, str]], category: str | None) -> GiftItem | None:
    comments = [(n, line.lstrip()[2:]) for n, line in block if _is_comment(line)]
    content = [(n, _escape_placeholders(line)) for n, line in block if not _is_comment(line)]
    if not content:
        return None
    numbers = [n for n, _ in content]
    text = "\n".join(line for _, line in content)

    def line_at(offset: int) -> int:
        return numbers[text.count("\n", 0, offset)]

    start = len(text) - len(text.lstrip())
    if text.startswith("$CATEGORY:", start):
        if "\n" in text.strip():
            raise _Malformed(
                line_at(text.index("\n", start) + 1), "a `$CATEGORY:` line stands alone: put a blank line after it"
            )
        return GiftItem(line=numbers[0], kind="category", category=_restore(text[start + 10 :]).strip())

    item = GiftItem(line=numbers[0], kind="question", category=category)
    _read_comments(item, comments)

    pos = start
    if text.startswith("::", pos):
        end = text.find("::", pos + 2)
        if end < 0:
            raise _Malformed(line_at(pos), "question name opened with `::` is never closed")
        item.name = _restore(text[pos + 2 : end]).strip()
        pos = end + 2

    open_at = text.find("{", pos)
    close_at = text.find("}", pos)
    if open_at < 0 and close_at < 0:
        item.qtype = "description"
        item.stem, item.stem_format = _clean(text[pos:])
        return item
    if close_at < 0:
        raise _Malformed(line_at(open_at), "answer block opened with `{` is never closed")
    if open_at < 0 or close_at < open_at:
        raise _Malformed(line_at(close_at), "`}` without an opening `{` (write \\} for a literal brace)")
    nested = text.find("{", open_at + 1, close_at)
    if nested >= 0:
        raise _Malformed(line_at(nested), "`{` inside an answer block (write \\{ for a literal brace)")
    after = text[close_at + 1 :]
    stray = min((i for i in (after.find("{"), after.find("}")) if i >= 0), default=-1)
    if stray >= 0:
        raise _Malformed(
            line_at(close_at + 1 + stray),
            "a question has one answer block, but another `{` or `}` follows (write \\{ \\} for literal braces)",
        )

    before = text[pos:open_at]
    if after.strip():
        item.missing_word = True
        before = before + BLANK + after
    item.stem, item.stem_format = _clean(before)
    _read_answers(item, text, open_at, close_at, line_at)
    return item


def _read_comments(item: GiftItem, comments: list[tuple[int, str]]) -> None:
    for number, comment in comments:
        if item.idnumber is None:
            found = _IDNUMBER.search(comment)
            if found:
                item.idnumber = found.group(1).replace("\\]", "]").strip()
        item.tags.extend(tag.replace("\\]", "]").strip() for tag in _TAG.findall(comment))
        meta = _META.match(comment)
        if meta:
            item.meta[meta.group(1)] = (meta.group(2), number)


def _read_answers(item: GiftItem, text: str, open_at: int, close_at: int, line_at) -> None:
    body_start = open_at + 1
    body = text[body_start:close_at]
    general = body.find("####")
    if general >= 0:
        item.general_feedback = _clean(body[general + 4 :])[0] or None
        body = body[:general]
    answers = body.strip()
    if not answers:
        item.qtype = "essay"
    elif answers[0] == "#":
        item.qtype = "numerical"
        _read_numerical(item, body, body_start, line_at)
    elif "~" in answers:
        item.qtype = "multichoice"
        item.single = "=" in answers
        item.answers = _split_answers(body, body_start, line_at, "=~", weighted=True)
        if len(item.answers) < 2:
            raise _Malformed(line_at(open_at), "a multiple-choice question needs at least two answers")
    elif "=" in answers and "->" in answers:
        item.qtype = "match"
        item.answers = _split_answers(body, body_start, line_at, "=", weighted=False)
        for answer in item.answers:
            if answer.feedback is not None:
                raise _Malformed(answer.line, "feedback (`#`) is not allowed in a matching pair")
            if answer.match is None:
                raise _Malformed(answer.line, "matching pair needs `->` between the item and its match")
        if len(item.answers) < 2:
            raise _Malformed(line_at(open_at), "a matching question needs at least two pairs")
    elif answers.split("#", 1)[0].strip().upper() in TRUE_FALSE:
        item.qtype = "truefalse"
        value, _, feedback = answers.partition("#")
        item.tf_answer = TRUE_FALSE[value.strip().upper()]
        if feedback or "#" in answers:
            wrong, _, right = feedback.partition("#")
            item.tf_feedback_wrong = _clean(wrong)[0] or None
            item.tf_feedback_right = _clean(right)[0] or None
    else:
        item.qtype = "shortanswer"
        item.answers = _split_answers(body, body_start, line_at, "=", weighted=True, unmarked_ok=True)


def _split_answers(
    body: str, offset: int, line_at, markers: str, *, weighted: bool, unmarked_ok: bool = False
) -> list[GiftAnswer]:
    """Cut an answer block at each marker; text before the first marker must be blank
    (short answers excepted: Moodle reads `{Paris}` as the one accepted answer)."""
    pieces: list[tuple[int, str, str]] = []  # (offset, marker, text)
    current_start, current_marker, buffer = offset, "", []
    for index, char in enumerate(body):
        if char in markers:
            pieces.append((current_start, current_marker, "".join(buffer)))
            current_start, current_marker, buffer = offset + index, char, []
        else:
            buffer.append(char)
    pieces.append((current_start, current_marker, "".join(buffer)))

    lead_offset, _, lead = pieces.pop(0)
    if lead.strip():
        first = lead.strip()
        lead_line = line_at(lead_offset + len(lead) - len(lead.lstrip()))
        if not unmarked_ok:
            raise _Malformed(
                lead_line,
                f"unexpected text {_restore(first)[:30]!r} before the first answer; answers start with = (right) or ~ (wrong)",
            )
        if first[0] in _MARKER_LIKE:
            raise _Malformed(
                lead_line, f"unknown answer marker `{first[0]}`; answers start with = (right) or ~ (wrong)"
            )
        pieces.insert(0, (lead_offset + len(lead) - len(lead.lstrip()), "", lead))

    answers = []
    for start, marker, raw in pieces:
        line = line_at(start)
        raw = raw.strip()
        weight = None
        if weighted and raw.startswith("%"):
            found = _WEIGHT.match(raw)
            if not found:
                raise _Malformed(line, f"bad weight {_restore(raw)[:20]!r}: write a percent like %50% or %-100%")
            weight = float(found.group(1))
            if not -100 <= weight <= 100:
                raise _Malformed(line, f"weight {found.group(1)}% is outside -100%..100%")
            raw = raw[found.end() :]
        feedback = None
        if "#" in raw:
            raw, feedback = raw.split("#", 1)
            feedback = _clean(feedback)[0] or None
        match = None
        if markers == "=" and not weighted and "->" in raw:
            raw, match = raw.rsplit("->", 1)
            match = _restore(match).strip()
        text, _ = _clean(raw)
        answers.append(GiftAnswer(line, marker, text, weight, feedback, match))
    return answers


def _read_numerical(item: GiftItem, body: str, offset: int, line_at) -> None:
    """Moodle's reading: after the `#`, a `~` starts the feedback for any other number; the rest
    is one answer (`4`, `4:0.5`, `3..5`, each with optional `#feedback`) or several, each after a
    `=` with an optional `%weight%`. Values are kept as written and checked when mapped."""
    start = body.index("#") + 1
    rest = body[start:]
    tilde = rest.find("~")
    if tilde >= 0:
        item.numerical_wrong_feedback = _clean(rest[tilde + 1 :].lstrip().removeprefix("#"))[0] or None
        rest = rest[:tilde]
    if "=" in rest:
        item.answers = _split_answers(rest, offset + start, line_at, "=", weighted=True)
        return
    text = rest.strip()
    if not text:
        return
    feedback = None
    if "#" in text:
        text, feedback = text.split("#", 1)
        feedback = _clean(feedback)[0] or None
    item.answers = [GiftAnswer(line_at(offset + start), "=", _restore(text).strip(), None, feedback)]


# --- map to bank questions --------------------------------------------------------------------


@dataclass
class Mapped:
    """A GIFT question as bank question data, or the reason it has no bank equivalent."""

    item: GiftItem
    data: dict[str, Any] | None = None
    refusal: str | None = None
    refusal_line: int | None = None  # where the refusal is, when not the question's first line
    warnings: list[str] = field(default_factory=list)
    answer_lines: list[int] | None = None  # lines of the kept short or numerical answers, in order

    @property
    def type(self) -> str | None:
        return self.data["type"] if self.data else None


def map_item(item: GiftItem) -> Mapped:
    """Bank question data (without `id`, `source`, `explanation` checks) for one parsed question."""
    mapped = Mapped(item)
    if item.error is not None:
        mapped.refusal = item.error.message
        return mapped
    reader = {
        "multichoice": _map_choice,
        "truefalse": _map_true_false,
        "shortanswer": _map_short_answer,
        "match": _map_match,
        "numerical": _map_numerical,
    }.get(item.qtype)
    if reader is None:
        mapped.refusal = {
            "essay": "essay questions ({}) cannot be graded automatically; banks have none",
            "description": "a description (text without an answer block) is not a question",
        }.get(item.qtype, f"GIFT question type {item.qtype} has no bank equivalent")
        return mapped
    data: dict[str, Any] = {"stem": item.stem}
    try:
        reader(item, data, mapped)
    except _Refused as exc:
        mapped.refusal = str(exc)
        mapped.refusal_line = exc.line
        return mapped
    if item.general_feedback:
        data["explanation"] = item.general_feedback
    mapped.data = data
    return mapped


class _Refused(Exception):
    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def _map_choice(item: GiftItem, data: dict, mapped: Mapped) -> None:
    answers = item.answers
    if item.single:
        weights = [a.weight if a.weight is not None else (100.0 if a.marker == "=" else 0.0) for a in answers]
        partial = [w for w in weights if w not in (0.0, 100.0)]
        if partial:
            raise _Refused(
                f"a single-choice answer with partial or negative credit (%{partial[0]:g}%) has no bank equivalent"
            )
        right = weights.count(100.0)
        if right != 1:
            raise _Refused(f"{right} right answers in a single-choice question; a bank question has exactly one")
        data["type"] = "single"
        data["options"] = [_option(a, correct=w == 100.0) for a, w in zip(answers, weights)]
        _apply_option_ids(item, data["options"])
        return
    data["type"] = "multiple"
    scoring = _meta_scoring(item)
    data["scoring"] = scoring
    options = []
    for answer in answers:
        weight = answer.weight if answer.weight is not None else 0.0
        if scoring == "weighted":
            option = _option(answer)
            option["weight"] = weight
        else:
            option = _option(answer, correct=weight > 0)
        options.append(option)
    data["options"] = options
    _apply_option_ids(item, options)


def _apply_option_ids(item: GiftItem, options: list[dict]) -> None:
    if "option_ids" not in item.meta:
        return
    ids = [part.strip() for part in item.meta["option_ids"][0].split(",")]
    if len(ids) != len(options):
        raise _Refused(f"`// option_ids:` names {len(ids)} options but the question has {len(options)}")
    for option, option_id in zip(options, ids):
        option["id"] = option_id


def _option(answer: GiftAnswer, correct: bool | None = None) -> dict:
    option: dict[str, Any] = {"text": answer.text}
    if correct:
        option["correct"] = True
    if answer.feedback:
        option["feedback"] = answer.feedback
    return option


def _meta_scoring(item: GiftItem) -> str:
    value = item.meta.get("scoring", ("weighted", 0))[0]
    if value not in ("partial", "all_or_nothing", "weighted"):
        raise _Refused(f"`// scoring: {value}` is not partial, all_or_nothing or weighted")
    return value


def _map_true_false(item: GiftItem, data: dict, mapped: Mapped) -> None:
    data["type"] = "true_false"
    data["answer"] = item.tf_answer
    if item.tf_feedback_right:
        data["feedback_right"] = item.tf_feedback_right
    if item.tf_feedback_wrong:
        data["feedback_wrong"] = item.tf_feedback_wrong


def _map_short_answer(item: GiftItem, data: dict, mapped: Mapped) -> None:
    accepted: list[Any] = []
    for answer in item.answers:
        credit = 100.0 if answer.weight is None else answer.weight
        if credit < 0:
            raise _Refused(f"short answer {answer.text!r} earns {credit:g}%; bank answers earn 0..100%", answer.line)
        if answer.text == "*":
            if credit > 0:
                raise _Refused("a `*` wildcard short answer (accept anything) has no bank equivalent", answer.line)
            mapped.warnings.append("the 0% catch-all answer `*` (feedback for any other answer) is dropped")
            continue
        if credit == 0 and not answer.feedback:
            mapped.warnings.append(f"the 0% answer {answer.text!r} without feedback does nothing and is dropped")
            continue
        mapped.answer_lines = (mapped.answer_lines or []) + [answer.line]
        if credit == 100 and not answer.feedback:
            accepted.append(answer.text)
        else:
            entry: dict[str, Any] = {"text": answer.text}
            if credit != 100:
                entry["credit"] = credit
            if answer.feedback:
                entry["feedback"] = answer.feedback
            accepted.append(entry)
    if not accepted:
        raise _Refused("a short answer question with no accepted answer")
    data["type"] = "short_answer"
    data["accepted"] = accepted
    if "unicode_normalize" in item.meta:
        value = item.meta["unicode_normalize"][0].lower()
        if value not in ("true", "false"):
            raise _Refused(f"`// unicode_normalize: {value}` is not true or false", item.meta["unicode_normalize"][1])
        data["unicode_normalize"] = value == "true"


def _number(text: str, line: int, what: str) -> float:
    if not _NUMERIC.match(text.strip()):
        raise _Refused(f"numerical {what} {text.strip()[:30]!r} is not a number", line)
    return float(text)


def _map_numerical(item: GiftItem, data: dict, mapped: Mapped) -> None:
    answers = []
    for answer in item.answers:
        credit = 100.0 if answer.weight is None else answer.weight
        if credit < 0:
            raise _Refused(
                f"numerical answer {answer.text!r} earns {credit:g}%; bank answers earn 0..100%", answer.line
            )
        spec = answer.text.strip()
        entry: dict[str, Any] = {}
        if spec in ("", "*"):
            mapped.warnings.append("a catch-all numerical answer (any other number) is dropped")
            continue
        if ".." in spec[1:]:
            low, high = spec[0] + spec[1:].split("..", 1)[0], spec[1:].split("..", 1)[1]
            entry["min"], entry["max"] = (
                _number(low, answer.line, "range start"),
                _number(high, answer.line, "range end"),
            )
        elif ":" in spec[1:]:
            value, tolerance = spec.split(":", 1)
            entry["value"] = _number(value, answer.line, "answer")
            entry["tolerance"] = _number(tolerance, answer.line, "tolerance")
            if entry["tolerance"] < 0:
                raise _Refused(f"numerical tolerance {tolerance.strip()} is below zero", answer.line)
        else:
            entry["value"] = _number(spec, answer.line, "answer")
        if credit == 0 and not answer.feedback:
            mapped.warnings.append(f"the 0% numerical answer {spec!r} without feedback does nothing and is dropped")
            continue
        if credit != 100:
            entry["credit"] = credit
        if answer.feedback:
            entry["feedback"] = answer.feedback
        answers.append(entry)
        mapped.answer_lines = (mapped.answer_lines or []) + [answer.line]
    if item.numerical_wrong_feedback:
        mapped.warnings.append("feedback for any other number (`~#...`) has no place in a bank and is dropped")
    if not answers:
        raise _Refused("a numerical question with no accepted number")
    data["type"] = "numerical"
    data["answers"] = answers
    if "unit" in item.meta:
        data["unit"] = item.meta["unit"][0]


def _map_match(item: GiftItem, data: dict, mapped: Mapped) -> None:
    declared = item.meta.get("type", (None, 0))[0]
    if declared not in (None, "matching", "ordering"):
        raise _Refused(f"`// type: {declared}` is not matching or ordering", item.meta["type"][1])
    positions = [a.match for a in item.answers]
    reads_as_ordering = all(a.text for a in item.answers) and sorted(positions) == [
        str(i) for i in range(1, len(positions) + 1)
    ]
    if declared == "ordering" or (declared is None and reads_as_ordering):
        if not reads_as_ordering:
            raise _Refused(
                f"`// type: ordering` needs every item matched to one of the positions 1..{len(positions)}, each once"
            )
        data["type"] = "ordering"
        data["items"] = [a.text for _, a in sorted(zip(map(int, positions), item.answers), key=lambda pair: pair[0])]
        return
    pairs = [{"prompt": a.text, "answer": a.match} for a in item.answers if a.text]
    distractors = [a.match for a in item.answers if not a.text]
    for answer in item.answers:
        if not answer.match:
            raise _Refused(f"matching pair {answer.text[:30]!r} has no answer after `->`", answer.line)
    data["type"] = "matching"
    scoring = item.meta.get("scoring", ("partial", 0))
    if scoring[0] not in ("partial", "all_or_nothing"):
        raise _Refused(
            f"`// scoring: {scoring[0]}` of a matching question is not partial or all_or_nothing", scoring[1]
        )
    if scoring[0] != "partial":
        data["scoring"] = scoring[0]
    data["pairs"] = pairs
    if distractors:
        data["distractors"] = distractors


# --- assemble a bank --------------------------------------------------------------------------


def question_id_for(item: GiftItem, position: int) -> str:
    """A bank question id from the Moodle idnumber, else the name, else `q<position>`."""
    for candidate in (item.idnumber, item.name):
        if candidate:
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", candidate).strip("-_.")[:64].rstrip("-_.")
            if slug and QUESTION_ID.match(slug):
                return slug
    return f"q{position}"


def gift_to_bank(
    raw: bytes | str,
    path: str,
    *,
    bank_id: str,
    title: str,
    default_source: str | None = None,
    kind: str = "certification",
    tier: str = "T1",
    version: str | None = None,
    policy: dict[str, Any] | None = None,
    skip_unsupported: bool = False,
    sections: Sections | None = None,
    versions: Versions | None = None,
    visible: Visible | None = None,
) -> tuple[Bank | None, list[Problem]]:
    """A bank from GIFT text; None (and the errors, with lines) if anything is wrong.

    Questions with no bank equivalent are errors, or warnings and left out with
    `skip_unsupported`. Malformed GIFT is always an error.
    """
    doc = parse_gift(raw, path)
    problems = list(doc.problems)
    if default_source is not None and not SOURCE.match(default_source):
        problems.append(Problem.error(path, 1, f"default source {default_source!r} is not SOP-ID#anchor"))
    source = YamlSource(path, lines={(): 1})
    questions: list[dict] = []
    used_ids: set[str] = set()
    for position, item in enumerate(doc.questions, start=1):
        if item.error is not None:
            continue  # already reported
        mapped = map_item(item)
        if mapped.data is None:
            label = f"question {item.name!r}" if item.name else "question"
            message = f"{label} not imported: {mapped.refusal}"
            if mapped.refusal_line is not None and mapped.refusal_line != item.line:
                message += f" (question at line {item.line})"
            line = mapped.refusal_line or item.line
            if skip_unsupported:
                problems.append(Problem.warning(path, line, message + " (skipped)"))
            else:
                problems.append(Problem.error(path, line, message))
            continue
        for warning in mapped.warnings:
            problems.append(Problem.warning(path, item.line, warning))
        data = _complete(mapped, position, used_ids, default_source, path, problems)
        index = len(questions)
        _record_lines(source, index, item, data, mapped.answer_lines)
        questions.append(data)
    if not questions and not any(p.is_error for p in problems):
        problems.append(Problem.error(path, 1, "no questions to import"))
    if any(p.is_error for p in problems):
        return None, sorted(problems)

    sops: list[str] = []
    for question in questions:
        sop_id = question["source"].split("#", 1)[0]
        if sop_id not in sops:
            sops.append(sop_id)
    data = {
        "id": bank_id,
        "title": title,
        "kind": kind,
        "tier": tier,
        "sops": sops,
        **({"version": version} if version is not None else {}),
        **DEFAULT_POLICY,
        "questions_per_attempt": min(DEFAULT_QUESTIONS_PER_ATTEMPT, len(questions)),
        **(policy or {}),
        "questions": questions,
    }
    source.data = data
    try:
        bank = Bank.model_validate(data)
    except ValidationError as error:
        return None, sorted(problems + schema_problems(error, source))
    problems += check_bank(bank, source, sections=sections, versions=versions, visible=visible)
    if any(p.is_error for p in problems):
        return None, sorted(problems)
    return bank, sorted(problems)


def _complete(mapped: Mapped, position: int, used_ids: set[str], default_source, path, problems) -> dict:
    item = mapped.item
    base = question_id_for(item, position)
    question_id, suffix = base, 2
    while question_id in used_ids:
        question_id, suffix = f"{base}-{suffix}", suffix + 1
    used_ids.add(question_id)
    source_value, source_line = item.meta.get("source", (default_source, item.line))
    if not source_value:
        problems.append(
            Problem.error(
                path,
                item.line,
                f"question `{question_id}` has no source: add `// source: SOP-ID#anchor` above it or pass a default source",
            )
        )
    elif not SOURCE.match(source_value):
        problems.append(Problem.error(path, source_line, f"source {source_value!r} is not SOP-ID#anchor"))
    data: dict[str, Any] = {"id": question_id, "source": source_value or ""}
    if "points" in item.meta:
        value, line = item.meta["points"]
        if value.isdigit() and int(value) >= 1:
            data["points"] = int(value)
        else:
            problems.append(Problem.error(path, line, f"`// points: {value}` is not a whole number of at least 1"))
    data.update(mapped.data)
    return data


def _record_lines(source: YamlSource, index: int, item: GiftItem, data: dict, answer_lines=None) -> None:
    loc = ("questions", index)
    source.lines[loc] = item.line
    for key in data:
        source.lines[(*loc, key)] = item.line
    if "source" in item.meta:
        source.lines[(*loc, "source")] = item.meta["source"][1]
    for position, answer in enumerate(item.answers):
        for list_key in ("options", "accepted", "answers"):
            source.lines[(*loc, list_key, position)] = answer.line
    for position, line in enumerate(answer_lines or []):
        for list_key in ("accepted", "answers"):
            source.lines[(*loc, list_key, position)] = line
    if data.get("type") == "matching":
        for position, answer in enumerate(a for a in item.answers if a.text):
            source.lines[(*loc, "pairs", position)] = answer.line
        for position, answer in enumerate(a for a in item.answers if not a.text):
            source.lines[(*loc, "distractors", position)] = answer.line
    if data.get("type") == "ordering":
        ordered = sorted(item.answers, key=lambda a: int(a.match))
        for position, answer in enumerate(ordered):
            source.lines[(*loc, "items", position)] = answer.line


# --- write ------------------------------------------------------------------------------------


class GiftWriteError(ValueError):
    """A bank question that GIFT cannot express."""


def escape(text: str, *, format_marker: bool = True) -> str:
    """GIFT text for one line: control characters escaped, new lines as `\\n`, and a format
    marker in front of text that itself starts with `[` so it is not read as one."""
    if _PLACEHOLDER.search(text):
        raise GiftWriteError("private-use characters U+E000..U+E007 cannot be written to GIFT")
    out = text.replace("\\", "\\\\")
    for char in "~=#{}:":
        out = out.replace(char, "\\" + char)
    out = out.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    if format_marker and out.startswith("["):
        out = "[markdown]" + out
    return out


def _weight(value: float) -> str:
    text = format(Decimal(repr(float(value))).normalize(), "f")
    return f"%{text}%"


def bank_to_gift(bank: Bank) -> str:
    """The bank's questions as GIFT that `gift_to_bank` reads back to the same questions."""
    blocks = [
        f"// Bank {bank.id}: {bank.title.splitlines()[0]}\n// Written by `kb quiz export-gift`; the comment lines above each question keep what GIFT has no field for."
    ]
    for question in bank.questions:
        blocks.append(_question_to_gift(bank, question))
    return "\n\n".join(blocks) + "\n"


def _general(question) -> str:
    return f"####{escape(question.explanation)}" if question.explanation else ""


def _number_out(value: float) -> str:
    return format(Decimal(repr(float(value))).normalize(), "f")


def _question_to_gift(bank: Bank, question) -> str:
    lines = [f"// source: {question.source}"]
    if question.points != 1:
        lines.append(f"// points: {question.points}")
    body: list[str] = []
    if isinstance(question, (Matching, Numerical)):
        return _new_type_to_gift(question, lines)
    if isinstance(question, (SingleChoice, MultipleResponse)):
        ids = [option.id for option in question.options]
        if ids != [default_option_id(i) for i in range(len(ids))]:
            lines.append(f"// option_ids: {', '.join(ids)}")
    if isinstance(question, SingleChoice):
        for option in question.options:
            marker = "=" if option.is_correct else "~"
            body.append(
                _choice_line(
                    marker,
                    option.text,
                    option.feedback,
                    explicit=option.text.startswith("%"),
                    weight=100 if option.is_correct else 0,
                )
            )
    elif isinstance(question, MultipleResponse):
        scoring = bank.scoring_of(question)
        lines.append(f"// scoring: {scoring}")
        right = sum(1 for o in question.options if o.is_correct)
        for option in question.options:
            if scoring == "weighted":
                weight = option.weight
            else:  # the same credit in Moodle's terms: +1/right for each right, -1/right for each wrong
                weight = round((100 if option.is_correct else -100) / right, 5)
            body.append(_choice_line("~", option.text, option.feedback, explicit=True, weight=weight))
    elif isinstance(question, TrueFalse):
        answer = "TRUE" if question.answer else "FALSE"
        if question.feedback_wrong:
            answer += f"#{escape(question.feedback_wrong)}"
        if question.feedback_right:  # `{T#wrong#}` followed by `####` would read as `#####`
            answer += f"{'' if question.feedback_wrong else '#'}#{escape(question.feedback_right)}"
        return "\n".join(lines) + f"\n::{question.id}::{escape(question.stem)}{{{answer}{_general(question)}}}"
    elif isinstance(question, Ordering):
        for position, item in enumerate(question.items, start=1):
            body.append(f"\t={escape(item)} -> {position}")
    elif isinstance(question, ShortAnswer):
        if not question.unicode_normalize:
            lines.append("// unicode_normalize: false")
        for entry in question.answers():
            accepted = entry.text
            if "->" in accepted:
                raise GiftWriteError(
                    f"question {question.id}: short answer {accepted!r} contains `->`, which GIFT reads as matching"
                )
            if accepted == "*":
                raise GiftWriteError(
                    f"question {question.id}: short answer `*` is a wildcard in GIFT (accepts anything)"
                )
            prefix = "%100%" if accepted.startswith("%") else ""
            if entry.credit != 100:
                prefix = _weight(entry.credit)
            feedback = f"#{escape(entry.feedback)}" if entry.feedback else ""
            body.append(f"\t={prefix}{escape(accepted)}{feedback}")
    if question.explanation:
        body.append(f"\t{_general(question)}")
    lines.append(f"::{question.id}::{escape(question.stem)}{{")
    return "\n".join(lines + body + ["}"])


def _choice_line(marker: str, text: str, feedback: str | None, *, explicit: bool, weight: float) -> str:
    line = f"\t{marker}"
    if explicit:
        line += _weight(weight)
    line += escape(text)
    if feedback:
        line += f"#{escape(feedback)}"
    return line


def _new_type_to_gift(question, lines: list[str]) -> str:
    body: list[str] = []
    if isinstance(question, Matching):
        texts = [p.prompt for p in question.pairs] + [p.answer for p in question.pairs] + list(question.distractors)
        for text in texts:
            if "->" in text:
                raise GiftWriteError(f"question {question.id}: {text!r} contains `->`, which GIFT reads as the pairing")
        answers = [p.answer for p in question.pairs]
        if not question.distractors and sorted(answers) == [str(i) for i in range(1, len(answers) + 1)]:
            lines.append("// type: matching")
        if question.scoring != "partial":
            lines.append(f"// scoring: {question.scoring}")
        for pair in question.pairs:
            # The answer side of a pair is plain text in Moodle: no format marker is read there.
            body.append(f"\t={escape(pair.prompt)} -> {escape(pair.answer, format_marker=False)}")
        for distractor in question.distractors:
            body.append(f"\t= -> {escape(distractor, format_marker=False)}")
        opener = "{"
    else:
        if question.unit:
            lines.append(f"// unit: {question.unit}")
        for answer in question.answers:
            if answer.is_range:
                spec = f"{_number_out(answer.min)}..{_number_out(answer.max)}"
            elif answer.tolerance is not None:
                spec = f"{_number_out(answer.value)}:{_number_out(answer.tolerance)}"
            else:
                spec = _number_out(answer.value)
            weight = _weight(answer.credit) if answer.credit != 100 else ""
            feedback = f"#{escape(answer.feedback)}" if answer.feedback else ""
            body.append(f"\t={weight}{spec}{feedback}")
        opener = "{#"
    if question.explanation:
        body.append(f"\t{_general(question)}")
    lines.append(f"::{question.id}::{escape(question.stem)}{opener}")
    return "\n".join(lines + body + ["}"])

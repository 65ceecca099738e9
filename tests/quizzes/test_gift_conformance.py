"""The GIFT importer against external expectations: Moodle's own fixtures and tests, and other parsers'.

The material is not in this repository. `KB_CONFORMANCE_DIR` points at the `conformance` folder
(CI sets it); without it the folder next to the repository (`../shared/conformance`) is used if it
exists, else these tests are skipped, unless `KB_REQUIRE_CONFORMANCE` is set, which makes a
missing folder a failure.

What is checked, for every file: the importer splits it into the same number of questions as the
expectations, gives each the same Moodle type, maps every question of a supported type to the
matching bank type (with the same name, text, answers, weights and feedback where the
expectations record them), refuses every other question with an error on its line, and never
raises. Known, documented disagreements:

- The PEG.js parser joins multi-line text with spaces and keeps spaces around a missing-word blank;
  Moodle keeps the new lines, and so do we: texts are compared ignoring whitespace.
- For `{TRUE#a#b}` the PEG.js parser calls `a` the feedback for answering true; Moodle (and we)
  call it the feedback for the wrong answer. True/false feedback is checked against Moodle only.
- rgmf's test10.txt has a question with two answer blocks, which Moodle reads by ignoring the second
  one (its braces end up in the question text); we refuse that question by its line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from kb_app.quizzes.gift import GiftItem, gift_to_bank, map_item, parse_gift

REPO = Path(__file__).resolve().parents[2]


def _conformance_dir() -> Path | None:
    configured = os.environ.get("KB_CONFORMANCE_DIR")
    if configured:
        return Path(configured)
    default = REPO.parent / "shared" / "conformance"
    return default if default.is_dir() else None


CONFORMANCE = _conformance_dir()
if CONFORMANCE is None or not (CONFORMANCE / "gift").is_dir():
    reason = (
        f"GIFT conformance material not found (KB_CONFORMANCE_DIR={os.environ.get('KB_CONFORMANCE_DIR', '')!r}); "
        "set KB_CONFORMANCE_DIR to the `conformance` folder to run these checks"
    )
    if os.environ.get("KB_REQUIRE_CONFORMANCE"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)

GIFT = CONFORMANCE / "gift"
MOODLE = GIFT / "moodle"
RGMF = GIFT / "rgmf__pygiftparser"
PEG = GIFT / "fuhrmanator__GIFT-grammar-PEG.js" / "tests" / "questions"
DEFAULT_SOURCE = "ATO-RECOVERY#verify-ownership"

# Moodle question type -> bank question types; the other Moodle types must be refused.
BANK_TYPE = {
    "multichoice(single)": {"single"},
    "multichoice(multi)": {"multiple"},
    "truefalse": {"true_false"},
    "shortanswer": {"short_answer"},
    "match": {"matching", "ordering"},  # ordering when the items match the positions 1..N
    "numerical": {"numerical"},
}
NEVER_MAPPED = {"essay", "description"}
# Types that must now always import (no refusal), whatever the corpus file.
ALWAYS_MAPPED = {"match", "numerical"}


def load_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def squash(text: str | None) -> str | None:
    return None if text is None else "".join(text.split())


def all_gift_files() -> list[Path]:
    files = []
    for path in sorted(GIFT.rglob("*")):
        if path.is_file() and (
            path.suffix == ".gift"
            or (path.suffix == ".txt" and "LICENSE" not in path.name and path.name != "MoodleQuestionDomainModel.txt")
        ):
            files.append(path)
    return files


def check_mapping(item: GiftItem, moodle_type: str, where: str) -> None:
    """A question of a supported type maps to the right bank type, or is refused for a stated reason;
    a question of another type is always refused."""
    assert item.error is None or moodle_type not in BANK_TYPE, f"{where}: malformed: {item.error}"
    mapped = map_item(item)
    if moodle_type in NEVER_MAPPED:
        assert mapped.data is None and mapped.refusal, where
    elif mapped.data is not None:
        assert mapped.type in BANK_TYPE[moodle_type], f"{where}: {moodle_type} mapped to {mapped.type}"
    else:
        assert moodle_type not in ALWAYS_MAPPED, f"{where}: {moodle_type} refused: {mapped.refusal}"
        assert mapped.refusal, where


def assert_refused_by_line(path: Path, raw: bytes) -> None:
    """gift_to_bank reports an error on the line of every question it does not map, and never raises."""
    doc = parse_gift(raw, path.name)
    refused = {q.line for q in doc.questions if q.error is None and map_item(q).data is None}
    refused |= {p.line for p in doc.problems}
    bank, problems = gift_to_bank(
        raw, path.name, bank_id="conformance", title="Conformance", default_source=DEFAULT_SOURCE
    )
    error_lines = {p.line for p in problems if p.is_error}
    assert refused <= error_lines, (path.name, sorted(refused - error_lines))
    line_count = raw.count(b"\n") + 1
    assert all(1 <= p.line <= line_count for p in problems), path.name
    skipped, skip_problems = gift_to_bank(
        raw, path.name, bank_id="conformance", title="Conformance", default_source=DEFAULT_SOURCE, skip_unsupported=True
    )
    assert {p.line for p in skip_problems if not p.is_error} >= {
        q.line for q in doc.questions if q.error is None and map_item(q).data is None
    }


# --- every file: no crash, refusals by line ---------------------------------------------------


@pytest.mark.parametrize("path", all_gift_files(), ids=lambda p: str(p.relative_to(GIFT)))
def test_every_file_parses_without_raising_and_refusals_name_their_line(path):
    raw = path.read_bytes()
    doc = parse_gift(raw, path.name)
    for item in doc.questions:
        assert item.line >= 1
        if item.error is None:
            check_mapping(item, item.moodle_type, f"{path.name}:{item.line}")
    assert_refused_by_line(path, raw)


# --- Moodle ------------------------------------------------------------------------------------


DERIVED = load_json(MOODLE / "derived_types.json")


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_moodle_files_split_and_type_like_moodle(name):
    expected = DERIVED[name]
    doc = parse_gift((MOODLE / name).read_bytes(), name)
    assert doc.problems == []
    assert len(doc.questions) == expected["questions_excluding_categories"]
    items = [(i.kind, i) for i in doc.items]
    assert len(items) == len(expected["items"])
    for (kind, item), want in zip(items, expected["items"]):
        if want["qtype"] == "category":
            assert kind == "category" and item.category == want["category"]
            continue
        where = f"{name}:{item.line}"
        assert item.moodle_type == want["qtype"], where
        assert item.name == want["name"], where
        assert item.missing_word == want["missing_word"], where
        check_mapping(item, want["qtype"], where)


def test_moodle_behat_question_counts():
    feature = (MOODLE / "tests" / "behat" / "import_export.feature").read_text(encoding="utf-8")
    asserted = re.findall(
        r'I upload "question/format/gift/(tests/fixtures/[^"]+)".*?Importing (\d+) questions', feature, re.S
    )
    assert asserted
    for fixture, count in asserted:
        assert len(parse_gift((MOODLE / fixture).read_bytes()).questions) == int(count), fixture


def test_moodle_behat_rejects_a_windows_1252_file():
    # The fixture itself is not stored; these bytes are a question written in windows-1252.
    raw = "// question\n::Café::Où est le café ?{=Là-bas ~Ici}\n".encode("cp1252")
    doc = parse_gift(raw, "windows-1252.gift")
    assert [p.line for p in doc.problems] == [2]
    assert "not valid UTF-8" in doc.problems[0].message
    assert doc.questions == []


MOODLE_CASES = load_json(MOODLE / "giftformat_test_expectations.json")


def _moodle_fraction(answer) -> float:
    if answer.weight is not None:
        return answer.weight / 100
    return 1.0 if answer.marker in ("=", "") else 0.0


@pytest.mark.parametrize("case", MOODLE_CASES["import_cases"], ids=lambda c: c["test"])
def test_moodle_readquestion_cases(case):
    doc = parse_gift(case["gift"], case["test"])
    assert doc.problems == [] and len(doc.questions) == 1
    item, want = doc.questions[0], case["expect"]
    assert item.qtype == want["qtype"]
    if want["qtype"] == "multichoice":
        assert item.single == bool(want["single"])
    assert item.name == want["name"]
    assert item.stem == want["questiontext"]
    assert item.stem_format == want["questiontextformat"]
    if "generalfeedback" in want:
        assert (item.general_feedback or "") == want["generalfeedback"]
    if "answer" in want and item.qtype != "numerical":
        texts = [a["text"] if isinstance(a, dict) else a for a in want["answer"]]
        assert [a.text for a in item.answers] == texts
        assert [_moodle_fraction(a) for a in item.answers] == pytest.approx(want["fraction"])
        assert [a.feedback or "" for a in item.answers] == [f["text"] for f in want["feedback"]]
    if "subquestions" in want:
        assert [a.text for a in item.answers] == [s["text"] for s in want["subquestions"]]
        mapped = map_item(item)
        assert mapped.type == "matching"
        pairs = [(s["text"], a) for s, a in zip(want["subquestions"], want["subanswers"])]
        assert [(p["prompt"], p["answer"]) for p in mapped.data["pairs"]] == [(q, a) for q, a in pairs if q]
        assert mapped.data.get("distractors", []) == [a for q, a in pairs if not q]
    if want["qtype"] == "numerical":
        check_numerical_like_moodle(item, want)
    if want["qtype"] == "shortanswer":
        check_short_answer_credit_like_moodle(item, want)
    if "correctanswer" in want:
        assert item.tf_answer == bool(want["correctanswer"])
        # Moodle: feedbacktrue is shown to whoever answers "true", feedbackfalse to "false".
        shown_for_true = item.tf_feedback_right if item.tf_answer else item.tf_feedback_wrong
        shown_for_false = item.tf_feedback_wrong if item.tf_answer else item.tf_feedback_right
        assert (shown_for_true or "") == want["feedbacktrue"]["text"]
        assert (shown_for_false or "") == want["feedbackfalse"]["text"]
    if "tags" in want:
        assert item.tags == want["tags"]
    if "idnumber" in want:
        assert item.idnumber == want["idnumber"]
    check_mapping(item, item.moodle_type, case["test"])


def check_numerical_like_moodle(item: GiftItem, want: dict) -> None:
    """Moodle keeps each number as answer + tolerance (a range as its middle and half-width) and a
    catch-all `*` for "any other number"; the bank keeps the numbers and drops the catch-all."""
    mapped = map_item(item)
    assert mapped.type == "numerical", mapped.refusal
    expected = [
        (float(a), float(t or 0), f)
        for a, t, f in zip(want["answer"], want["tolerance"], want["fraction"])
        for fb in [want["feedback"][want["answer"].index(a)]]
        if a != "*" and (f or fb["text"])
    ]
    ours = []
    for answer in mapped.data["answers"]:
        if "min" in answer:
            middle = (answer["min"] + answer["max"]) / 2
            ours.append((middle, answer["max"] - middle, answer.get("credit", 100) / 100))
        else:
            ours.append((answer["value"], answer.get("tolerance", 0.0), answer.get("credit", 100) / 100))
    assert flat(ours) == pytest.approx(flat(expected))


def flat(rows) -> list[float]:
    return [value for row in rows for value in row]


def check_short_answer_credit_like_moodle(item: GiftItem, want: dict) -> None:
    """Partial credit survives the import; the 0 % `*` catch-all (any other answer) is dropped."""
    mapped = map_item(item)
    assert mapped.type == "short_answer", mapped.refusal
    ours = [
        (a, 1.0) if isinstance(a, str) else (a["text"], a.get("credit", 100) / 100) for a in mapped.data["accepted"]
    ]
    expected = [(a, f) for a, f in zip(want["answer"], want["fraction"]) if a != "*"]
    assert [t for t, _ in ours] == [t for t, _ in expected]
    assert [c for _, c in ours] == pytest.approx([f for _, f in expected])


@pytest.mark.parametrize("case", MOODLE_CASES["extract_idnumber_and_tags_from_comment_cases"], ids=lambda c: c[0])
def test_moodle_idnumber_and_tags_from_comments(case):
    _, idnumber, tags, comment = case
    item = parse_gift(comment + "\nA statement.{T}").questions[0]
    assert (item.idnumber or "") == idnumber
    assert item.tags == tags


EXPORT_TYPES = {
    "essay": "essay",
    "match": "match",
    "multichoice": "multichoice(single)",
    "multichoice_multi_tricky": "multichoice(multi)",
    "numerical": "numerical",
    "shortanswer": "shortanswer",
    "shortanswer_with_general_feedback": "shortanswer",
    "truefalse": "truefalse",
    "backslash": "essay",
    "question_with_tags_and_idnumber": "truefalse",
}


@pytest.mark.parametrize("case", MOODLE_CASES["export_cases"], ids=lambda c: c["test"])
def test_moodle_exports_read_back(case):
    doc = parse_gift(case["gift"], case["test"])
    assert doc.problems == [] and len(doc.questions) == 1
    item = doc.questions[0]
    moodle_type = EXPORT_TYPES[case["test"].removeprefix("test_export_")]
    assert item.moodle_type == moodle_type
    check_mapping(item, moodle_type, case["test"])
    if "input_questiontext" in case:
        assert item.stem == case["input_questiontext"]


# --- rgmf/pygiftparser -------------------------------------------------------------------------


RGMF_EXPECT = load_json(RGMF / "expectations.json")
RGMF_TYPES = {
    "MultipleChoiceRadio": "multichoice(single)",
    "MultipleChoiceCheckbox": "multichoice(multi)",
    "TrueFalse": "truefalse",
    "Short": "shortanswer",
    "Matching": "match",
    "Numerical": "numerical",
    "Range": "numerical",
    "MultipleNumerical": "numerical",
    "Essay": "essay",
    "Description": "description",
}


@pytest.mark.parametrize("name", sorted(RGMF_EXPECT["question_counts_per_file"]))
def test_rgmf_question_counts(name):
    doc = parse_gift((RGMF / name).read_bytes(), name)
    assert len(doc.questions) == RGMF_EXPECT["question_counts_per_file"][name]


@pytest.mark.parametrize("name", ["tests/gift_file_all_questions.txt", "tests/gift_file_categories.txt"])
def test_rgmf_types_options_and_categories(name):
    doc = parse_gift((RGMF / name).read_bytes(), name)
    for item, want in zip(doc.questions, RGMF_EXPECT[name], strict=True):
        where = f"{name}:{item.line}"
        moodle_type = RGMF_TYPES[want["type"]]
        assert item.moodle_type == moodle_type, where
        check_mapping(item, moodle_type, where)
        if moodle_type not in NEVER_MAPPED:
            options = 1 if moodle_type == "truefalse" else len(item.answers)
            assert options == want["num_options"], where
        if "category" in want:
            assert item.category == want["category"], where


@pytest.mark.parametrize("case", RGMF_EXPECT["escaping_cases"], ids=["name", "text"])
def test_rgmf_escaping(case):
    item = parse_gift(case["gift"]).questions[0]
    if "name" in case["expect"]:
        assert item.name == case["expect"]["name"]
    if "text" in case["expect"]:
        assert item.stem == case["expect"]["text"]


# --- fuhrmanator/GIFT-grammar-PEG.js ------------------------------------------------------------


PEG_TYPES = {
    "TF": "truefalse",
    "Short": "shortanswer",
    "Matching": "match",
    "Numerical": "numerical",
    "Essay": "essay",
    "Description": "description",
}


def _peg_text(value):
    return None if value is None else value["text"]


@pytest.mark.parametrize("path", sorted(PEG.glob("*.gift")), ids=lambda p: p.stem)
def test_peg_inputs_match_expected_parse(path):
    expected = load_json(path.with_suffix(".json"))
    doc = parse_gift(path.read_bytes(), path.name)
    assert doc.problems == []
    assert [i.kind for i in doc.items] == ["category" if e["type"] == "Category" else "question" for e in expected]
    for item, want in zip(doc.items, expected):
        where = f"{path.name}:{item.line}"
        if want["type"] == "Category":
            assert item.category == want["title"], where
            continue
        if want["type"] == "MC":
            moodle_type = (
                "multichoice(single)" if any(c["isCorrect"] for c in want["choices"]) else "multichoice(multi)"
            )
        else:
            moodle_type = PEG_TYPES[want["type"]]
        assert item.moodle_type == moodle_type, where
        check_mapping(item, moodle_type, where)
        assert item.name == want["title"], where
        assert squash(item.stem) == squash(want["stem"]["text"]), where
        assert item.idnumber == want.get("id"), where
        assert (item.tags or None) == want.get("tags"), where
        if "globalFeedback" in want:
            assert squash(item.general_feedback) == squash(_peg_text(want["globalFeedback"])), where
        if want["type"] in ("MC", "Short"):
            ours = [(squash(a.text), squash(a.feedback), a.weight) for a in item.answers]
            theirs = [
                (squash(c["text"]["text"]), squash(_peg_text(c["feedback"])), c["weight"]) for c in want["choices"]
            ]
            assert ours == theirs, where
        if want["type"] == "MC":
            assert [a.marker == "=" for a in item.answers] == [c["isCorrect"] for c in want["choices"]], where
        if want["type"] == "TF":
            assert item.tf_answer == want["isTrue"], where
        if want["type"] == "Matching":
            pairs = [(squash(a.text), squash(a.match)) for a in item.answers]
            assert pairs == [(squash(p["subquestion"]["text"]), squash(p["subanswer"])) for p in want["matchPairs"]], (
                where
            )
        if want["type"] == "Numerical":
            assert flat(peg_bounds(want["choices"])) == pytest.approx(flat(our_bounds(item))), where


def peg_bounds(choices) -> list[tuple[float, float, float]]:
    """The PEG.js parse as (low, high, credit) per accepted number; its catch-alls left out."""
    if isinstance(choices, dict):
        choices = [{"text": choices, "weight": None, "feedback": None}]
    result = []
    for choice in choices:
        spec = choice["text"]
        credit = 100.0 if choice["weight"] is None else float(choice["weight"])
        if "number" not in spec and "numberLow" not in spec:
            continue  # `~#...`: any other number
        if credit == 0 and not choice.get("feedback"):
            continue
        if spec["type"] == "high-low":
            result.append((spec["numberLow"], spec["numberHigh"], credit))
        else:
            tolerance = spec.get("range", 0)
            result.append((spec["number"] - tolerance, spec["number"] + tolerance, credit))
    return result


def our_bounds(item: GiftItem) -> list[tuple[float, float, float]]:
    mapped = map_item(item)
    assert mapped.type == "numerical", mapped.refusal
    result = []
    for answer in mapped.data["answers"]:
        credit = answer.get("credit", 100.0)
        if "min" in answer:
            result.append((answer["min"], answer["max"], credit))
        else:
            tolerance = answer.get("tolerance", 0.0)
            result.append((answer["value"] - tolerance, answer["value"] + tolerance, credit))
    return result


def test_the_corpus_now_imports_its_matching_numerical_and_partial_credit_questions():
    """Every matching and numerical question in the corpus maps to a bank question, and so does
    every short answer with partial credit (unless it accepts anything with credit)."""
    counts = {"matching": 0, "numerical": 0, "partial_short_answer": 0}
    for path in all_gift_files():
        for item in parse_gift(path.read_bytes(), path.name).questions:
            if item.error is not None:
                continue
            mapped = map_item(item)
            if item.qtype in ("match", "numerical"):
                assert mapped.data is not None, f"{path.name}:{item.line}: {mapped.refusal}"
                if mapped.type != "ordering":
                    counts[mapped.type] += 1
            partial = [a for a in item.answers if a.weight not in (None, 100.0) and a.text != "*"]
            if (
                item.qtype == "shortanswer"
                and partial
                and all(a.weight >= 0 for a in partial)
                and not any(a.text == "*" and (a.weight or 100) > 0 for a in item.answers)
            ):
                assert mapped.type == "short_answer", f"{path.name}:{item.line}: {mapped.refusal}"
                assert any(isinstance(a, dict) and "credit" in a for a in mapped.data["accepted"])
                counts["partial_short_answer"] += 1
    assert all(counts.values()), counts

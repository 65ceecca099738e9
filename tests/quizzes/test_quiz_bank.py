"""Loading and validating question banks: every bad input is a `path:line: message`, never a traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb_app.problems import InputError
from kb_app.quizzes.bank import (
    bank_hash,
    bank_to_yaml,
    catalog_index,
    load_banks,
    parse_bank,
    read_banks,
    validate_banks,
    visible_by_tier,
)
from kb_app.quizzes.schema import MultipleResponse, Ordering, ShortAnswer, SingleChoice, TrueFalse

BAD_BANKS = sorted((Path(__file__).parent / "fixtures" / "bad_banks").glob("*.yml"))


def expectation(path: Path) -> tuple[int, str]:
    """Each bad fixture starts with `# expect: LINE: text the message contains`."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.match(r"# expect: (\d+): (.*)$", first)
    assert match, f"{path.name} has no expectation line"
    return int(match.group(1)), match.group(2)


def test_good_bank_loads_every_question_type(good_bank):
    types = [type(q) for q in good_bank.questions]
    assert types == [SingleChoice, MultipleResponse, TrueFalse, Ordering, ShortAnswer]


def test_options_get_letter_ids_by_position_unless_given(good_bank):
    assert [o.id for o in good_bank.question("first-step").options] == ["a", "b", "c"]
    assert [o.id for o in good_bank.question("ownership-signals").options] == ["device", "billing", "name"]


def test_text_is_stripped_so_block_scalars_do_not_keep_their_newline(good_bank):
    stem = good_bank.question("first-step").stem
    assert stem == stem.strip() and "\n" in stem


@pytest.mark.parametrize("fixture", BAD_BANKS, ids=lambda p: p.stem)
def test_bad_bank_reports_file_and_line(fixture, sections, versions):
    line, fragment = expectation(fixture)
    bank, problems = parse_bank(fixture.read_bytes(), fixture.name, sections=sections, versions=versions)
    assert bank is None
    rendered = [str(p) for p in problems if p.is_error]
    assert any(text.startswith(f"{fixture.name}:{line}: error: ") and fragment in text for text in rendered), rendered


def test_every_bad_fixture_has_exactly_the_expected_errors_at_most_two(sections, versions):
    # One mistake per fixture: a fixture that trips many rules would not test the rule it names.
    for fixture in BAD_BANKS:
        _, problems = parse_bank(fixture.read_bytes(), fixture.name, sections=sections, versions=versions)
        errors = [p for p in problems if p.is_error]
        assert 1 <= len(errors) <= 2, (fixture.name, [str(p) for p in errors])


def test_zero_byte_file_is_empty():
    bank, problems = parse_bank(b"", "empty.yml")
    assert bank is None
    assert [str(p) for p in problems] == ["empty.yml:1: error: empty file: expected a question bank"]


def test_non_utf8_bytes_are_reported_with_their_line(good_bank_bytes):
    lines = good_bank_bytes.split(b"\n")
    lines[5] = b"title: Recuperaci\xf3n de cuentas"  # Latin-1, line 6
    bank, problems = parse_bank(b"\n".join(lines), "latin1.yml")
    assert bank is None
    assert len(problems) == 1
    assert str(problems[0]).startswith("latin1.yml:6: error: file is not valid UTF-8 (byte 0xf3)")


def test_byte_order_mark_is_accepted(good_bank_bytes, sections):
    bank, problems = parse_bank(b"\xef\xbb\xbf" + good_bank_bytes, "bom.yml", sections=sections)
    assert bank is not None and not problems


def test_multiple_yaml_documents_are_malformed(good_bank_bytes):
    bank, problems = parse_bank(good_bank_bytes + b"\n---\nid: other\n", "two.yml")
    assert bank is None
    assert "malformed YAML" in problems[0].message


def test_citations_are_not_checked_without_sections(fixtures_dir):
    raw = (fixtures_dir / "bad_banks" / "unknown_section.yml").read_bytes()
    bank, problems = parse_bank(raw, "unknown_section.yml")
    assert bank is not None and not problems


def test_update_bank_version_rule_is_skipped_without_versions(fixtures_dir, sections):
    raw = (fixtures_dir / "bad_banks" / "update_unknown_version.yml").read_bytes()
    bank, problems = parse_bank(raw, "update.yml", sections=sections, versions=None)
    assert bank is not None and not [p for p in problems if p.is_error]


def test_update_bank_with_known_version_is_valid(fixtures_dir, sections, versions):
    raw = (fixtures_dir / "bad_banks" / "update_unknown_version.yml").read_bytes().replace(b'"9.0"', b'"3.0"')
    bank, problems = parse_bank(raw, "update.yml", sections=sections, versions=versions)
    assert bank is not None and bank.kind == "update" and bank.version == "3.0"


def test_duplicate_bank_ids_across_files(quiz_dir, good_bank_bytes, sections):
    (quiz_dir / "a-first.yml").write_bytes(good_bank_bytes)
    (quiz_dir / "b-second.yml").write_bytes(good_bank_bytes)
    problems = validate_banks(quiz_dir, sections)
    errors = [str(p) for p in problems if p.is_error]
    assert len(errors) == 1
    assert re.match(
        r".*b-second\.yml:2: error: duplicate bank id `ato-recovery-t1`: already used by .*a-first\.yml$", errors[0]
    )


def test_validate_banks_reads_yml_and_yaml_and_ignores_other_files(quiz_dir, good_bank_bytes, sections):
    (quiz_dir / "one.yml").write_bytes(good_bank_bytes)
    (quiz_dir / "two.yaml").write_bytes(good_bank_bytes.replace(b"id: ato-recovery-t1", b"id: ato-recovery-t1-copy"))
    (quiz_dir / "notes.txt").write_text("not a bank")
    result = read_banks(quiz_dir, sections=sections)
    assert result.ok and sorted(result.banks) == ["ato-recovery-t1", "ato-recovery-t1-copy"]


def test_missing_quiz_directory_has_no_banks_and_no_problems(tmp_path, sections):
    assert validate_banks(tmp_path / "nowhere", sections) == []


def test_load_banks_raises_with_every_problem(quiz_dir, fixtures_dir):
    for name in ("wrong_type.yml", "duplicate_key.yml"):
        (quiz_dir / name).write_bytes((fixtures_dir / "bad_banks" / name).read_bytes())
    with pytest.raises(InputError) as caught:
        load_banks(quiz_dir)
    assert len(caught.value.problems) == 2
    assert "wrong_type.yml:7:" in str(caught.value)


def test_warning_when_a_listed_sop_has_no_question(good_bank_bytes, sections):
    raw = good_bank_bytes.replace(
        b"sops: [ATO-RECOVERY, TWO-STEP-RESET]", b"sops: [ATO-RECOVERY, TWO-STEP-RESET, SIM-SWAP]"
    )
    bank, problems = parse_bank(raw, "g.yml", sections={**sections, "SIM-SWAP": {"intro"}})
    assert bank is not None
    assert [str(p) for p in problems] == ["g.yml:6: warning: no question cites SOP `SIM-SWAP`"]


def test_yaml_written_by_bank_to_yaml_reads_back_equal(good_bank, sections):
    again, problems = parse_bank(bank_to_yaml(good_bank).encode("utf-8"), "again.yml", sections=sections)
    assert not problems
    assert again == good_bank
    assert bank_hash(again) == bank_hash(good_bank)


def test_bank_hash_changes_with_content(good_bank):
    edited = good_bank.model_copy(update={"pass_mark": 90})
    assert bank_hash(edited) != bank_hash(good_bank)


def test_catalog_index_feeds_validate_banks_from_a_real_catalog(quiz_dir, sop_dir):
    sop_dir.write("ATO-RECOVERY")
    bank_text = """id: real-catalog
title: Against a real catalog
kind: update
tier: T1
sops: [ATO-RECOVERY]
version: "1.0"
pass_mark: 80
questions_per_attempt: 1
time_limit_minutes: 10
attempts_per_day: 3
cooldown_hours: 1
valid_days: 30
review_shows_answers: false
questions:
  - id: purpose
    type: true_false
    source: ATO-RECOVERY#steps
    stem: Secure the account after confirming identity.
    answer: true
    explanation: Identity first, then secure.
  - id: missing
    type: true_false
    source: ATO-RECOVERY#no-such-section
    stem: A second statement.
    answer: false
    explanation: It cites a section that does not exist.
"""
    (quiz_dir / "real-catalog.yml").write_text(bank_text)
    from kb_app.catalog import load_catalog

    sections, versions = catalog_index(load_catalog(sop_dir.root))
    assert versions["ATO-RECOVERY"] == {"1.0"}
    problems = validate_banks(quiz_dir, sections, versions)
    assert [p.line for p in problems if p.is_error] == [23]
    assert "has no section `#no-such-section`" in problems[0].message


@settings(deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(raw):
    # Includes control characters PyYAML's reader refuses before parsing starts.
    bank, problems = parse_bank(raw, "fuzz.yml")
    assert bank is None or not [p for p in problems if p.is_error]
    assert all(p.line >= 1 for p in problems)


GOOD_BANK_TEXT = (Path(__file__).parent / "fixtures" / "good_bank.yml").read_text(encoding="utf-8")


@settings(deadline=None)
@given(st.data())
def test_mangled_good_bank_never_raises(data):
    # Drop or duplicate a random line, or change a random character: still only problems.
    lines = GOOD_BANK_TEXT.split("\n")
    index = data.draw(st.integers(0, len(lines) - 1))
    action = data.draw(st.sampled_from(["drop", "dup", "char"]))
    if action == "drop":
        del lines[index]
    elif action == "dup":
        lines.insert(index, lines[index])
    elif lines[index]:
        pos = data.draw(st.integers(0, len(lines[index]) - 1))
        char = data.draw(st.sampled_from(list(":-[]{}#&*!|>'\"%@ \t0a")))
        lines[index] = lines[index][:pos] + char + lines[index][pos + 1 :]
    bank, problems = parse_bank("\n".join(lines).encode("utf-8"), "mangled.yml")
    assert all(p.line >= 1 for p in problems)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [*x]\n",
        "? [a, b]\n: value\n",
        "1: one\n2: two\n",
        "id: " + "[" * 2000 + "]" * 2000 + "\n",
        "questions: !!python/object:os.system echo\n",
        "id: ok\n\x00\n",
    ],
    ids=["recursive-alias", "complex-key", "int-keys", "deep-nesting", "python-tag", "nul"],
)
def test_hostile_yaml_is_a_problem_not_a_traceback(text):
    bank, problems = parse_bank(text.encode("utf-8"), "hostile.yml")
    assert bank is None and problems and all(p.is_error for p in problems)


def test_tier1_bank_cannot_cover_a_t2_only_sop(quiz_dir, sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.write("ATTACKER-ASN", visibility="t2_only", audience={"tiers": ["T2"]})
    bank_text = """id: tier-check
title: Tier check
kind: certification
tier: T1
sops: [ATO-RECOVERY, ATTACKER-ASN]
pass_mark: 80
questions_per_attempt: 1
time_limit_minutes: 10
attempts_per_day: 3
cooldown_hours: 1
valid_days: 30
review_shows_answers: true
questions:
  - id: one
    type: true_false
    source: ATTACKER-ASN#steps
    stem: Check the login IP against the ASN list.
    answer: true
    explanation: Tier 2 does this.
"""
    (quiz_dir / "tier-check.yml").write_text(bank_text)
    from kb_app.catalog import load_catalog

    catalog = load_catalog(sop_dir.root)
    assert catalog.ok, [str(p) for p in catalog.problems]
    sections, versions = catalog_index(catalog)
    visible = visible_by_tier(catalog)
    assert "ATTACKER-ASN" not in visible["T1"] and "ATTACKER-ASN" in visible["T2"]
    problems = [str(p) for p in validate_banks(quiz_dir, sections, versions, visible) if p.is_error]
    assert len(problems) == 1 and problems[0].endswith(
        "tier-check.yml:5: error: a T1 bank cannot cover `ATTACKER-ASN`: T1 agents cannot read it"
    )
    (quiz_dir / "tier-check.yml").write_text(bank_text.replace("tier: T1", "tier: T2"))
    assert not [p for p in validate_banks(quiz_dir, sections, versions, visible) if p.is_error]

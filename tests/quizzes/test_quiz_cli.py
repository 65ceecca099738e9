"""`kb quiz ...` through click's runner: import into a temp quiz dir, refuse overwrites, export, validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb_app.cli import main
from kb_app.cli.quiz import quiz_group
from kb_app.quizzes.bank import read_banks

GIFT = Path(__file__).parent / "fixtures" / "gift"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def run(runner, tmp_path, monkeypatch):
    """Run `kb quiz ...` in a temp working directory with no SOP directory unless a test adds one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KB_QUIZ_DIR", raising=False)
    monkeypatch.delenv("KB_SOP_DIR", raising=False)

    def invoke(*args: str, env: dict | None = None):
        return runner.invoke(quiz_group, list(args), env=env, catch_exceptions=False)

    return invoke


def test_quiz_group_is_registered_on_kb(runner):
    result = runner.invoke(main, ["quiz", "--help"])
    assert result.exit_code == 0
    for command in ("import-gift", "export-gift", "validate", "preview"):
        assert command in result.output


def test_import_gift_writes_a_new_bank(run, tmp_path):
    result = run(
        "import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", "--title", "Practice", "--quiz-dir", "qz"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "wrote qz/practice.yml: 8 question(s)"
    banks = read_banks(tmp_path / "qz")
    assert banks.ok and banks.banks["practice"].title == "Practice"


def test_import_gift_uses_kb_quiz_dir(run, tmp_path):
    result = run("import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", env={"KB_QUIZ_DIR": "from-env"})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-env" / "practice.yml").is_file()


def test_import_gift_defaults_to_quizzes(run, tmp_path):
    assert run("import-gift", str(GIFT / "all_types.gift"), "--bank", "practice").exit_code == 0
    assert (tmp_path / "quizzes" / "practice.yml").is_file()


def test_import_gift_refuses_to_overwrite(run, tmp_path):
    assert run("import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", "--quiz-dir", "qz").exit_code == 0
    before = (tmp_path / "qz" / "practice.yml").read_bytes()
    result = run(
        "import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", "--title", "Other", "--quiz-dir", "qz"
    )
    assert result.exit_code == 1
    assert "qz/practice.yml: already exists; refusing to overwrite" in result.stderr
    assert (tmp_path / "qz" / "practice.yml").read_bytes() == before


def test_import_gift_refuses_an_id_used_by_another_file(run, tmp_path):
    assert run("import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", "--quiz-dir", "qz").exit_code == 0
    (tmp_path / "qz" / "practice.yml").rename(tmp_path / "qz" / "renamed.yml")
    result = run("import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", "--quiz-dir", "qz")
    assert result.exit_code == 1 and "already used by" in result.stderr
    assert not (tmp_path / "qz" / "practice.yml").exists()


def test_import_gift_with_unsupported_questions_writes_nothing(run, tmp_path):
    result = run("import-gift", str(GIFT / "unsupported.gift"), "--bank", "u", "--quiz-dir", "qz")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 7 and all(":" in line and " error: " in line for line in lines)
    assert lines[0].endswith(
        "unsupported.gift:5: error: question 'sla-hours' not imported: numerical answer 'four' is not a number "
        "(question at line 4)"
    )
    assert not (tmp_path / "qz").exists()


def test_import_gift_can_skip_unsupported_with_warnings(run, tmp_path):
    result = run("import-gift", str(GIFT / "unsupported.gift"), "--bank", "u", "--quiz-dir", "qz", "--skip-unsupported")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning:") == 7
    assert read_banks(tmp_path / "qz").banks["u"].questions[0].id == "supported"


def test_import_gift_malformed_reports_lines(run, tmp_path):
    bad = tmp_path / "bad.gift"
    bad.write_text("// source: ATO-RECOVERY#escalate\n::a::A?{T####x}\n\n::b::B?{=yes ~no\n", encoding="utf-8")
    result = run("import-gift", str(bad), "--bank", "bad", "--quiz-dir", "qz")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("bad.gift:4: error: answer block opened with `{` is never closed")
    assert not (tmp_path / "qz").exists()


def test_import_gift_non_utf8(run, tmp_path):
    bad = tmp_path / "latin1.gift"
    bad.write_bytes("// source: ATO-RECOVERY#escalate\n::a::Caf".encode() + b"\xe9?{T####x}\n")
    result = run("import-gift", str(bad), "--bank", "bad", "--quiz-dir", "qz")
    assert result.exit_code == 1 and "latin1.gift:2: error: GIFT file is not valid UTF-8" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bank", "Bad_Id"], "--bank 'Bad_Id': use lower-case letters"),
        (["--bank", "ok", "--source", "nope"], "--source 'nope': expected SOP-ID#anchor"),
    ],
)
def test_import_gift_checks_its_options(run, args, message):
    result = run("import-gift", str(GIFT / "all_types.gift"), *args, "--quiz-dir", "qz")
    assert result.exit_code == 1 and message in result.stderr


def test_import_gift_missing_file_is_a_usage_error(run):
    result = run("import-gift", "nowhere.gift", "--bank", "x")
    assert result.exit_code == 2


def test_import_gift_checks_citations_against_the_sop_directory(run, tmp_path, sop_dir):
    sop_dir.write("ATO-RECOVERY")
    gift = tmp_path / "cites.gift"
    gift.write_text(
        "// source: ATO-RECOVERY#steps\n::a::A?{T####x}\n\n// source: ATO-RECOVERY#missing\n::b::B?{F####y}\n"
    )
    result = run("import-gift", str(gift), "--bank", "cites", "--quiz-dir", "qz", "--sop-dir", str(sop_dir.root))
    assert result.exit_code == 1
    assert (
        "cites.gift:4: error: question `b` cites `ATO-RECOVERY#missing`, but SOP `ATO-RECOVERY` has no section `#missing`"
        in result.stderr
    )


def test_import_gift_json_output(run):
    result = run("import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", "--quiz-dir", "qz", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"path": "qz/practice.yml", "bank": "practice", "questions": 8, "warnings": []}


def test_export_gift_prints_gift_that_imports_back(run, tmp_path):
    assert run("import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", "--quiz-dir", "qz").exit_code == 0
    exported = run("export-gift", "practice", "--quiz-dir", "qz")
    assert exported.exit_code == 0
    assert exported.stdout.startswith("// Bank practice: practice\n")
    assert "// source: TWO-STEP-RESET#reset-steps\n// points: 2\n::reset-order::" in exported.stdout
    (tmp_path / "exported.gift").write_text(exported.stdout, encoding="utf-8")
    again = run("import-gift", "exported.gift", "--bank", "practice-again", "--quiz-dir", "qz")
    assert again.exit_code == 0, again.output
    banks = read_banks(tmp_path / "qz").banks
    first, second = banks["practice"], banks["practice-again"]
    assert first.questions == second.questions


def test_export_gift_unknown_bank(run, tmp_path):
    result = run("export-gift", "nothing", "--quiz-dir", "qz")
    assert result.exit_code == 1 and "no valid bank 'nothing' in qz" in result.stderr


def test_export_gift_of_a_broken_bank_shows_why(run, tmp_path):
    (tmp_path / "qz").mkdir()
    (tmp_path / "qz" / "broken.yml").write_text("id: broken\ntitle: [unclosed\n")
    result = run("export-gift", "broken", "--quiz-dir", "qz")
    assert result.exit_code == 1 and "broken.yml:3: error: malformed YAML" in result.stderr


def test_validate_without_sop_directory_checks_the_schema_only(run, tmp_path):
    assert run("import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", "--quiz-dir", "qz").exit_code == 0
    result = run("validate", "--quiz-dir", "qz", "--sop-dir", "no-sops")
    assert result.exit_code == 0
    assert result.stdout.strip() == "1 bank(s) OK (citations not checked: no SOP directory)"


def test_validate_reports_problems_with_lines(run, tmp_path):
    (tmp_path / "qz").mkdir()
    bad = Path(__file__).parent / "fixtures" / "bad_banks" / "two_correct_single.yml"
    (tmp_path / "qz" / "two.yml").write_bytes(bad.read_bytes())
    result = run("validate", "--quiz-dir", "qz")
    assert result.exit_code == 1
    assert "two.yml:19: error: single-choice question `first-step` has 2 correct options" in result.stderr
    as_json = run("validate", "--quiz-dir", "qz", "--json")
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["ok"] is False and data["problems"][0]["line"] == 19


def test_preview_prints_a_taker_view_without_answers(run, tmp_path):
    assert run("import-gift", str(GIFT / "all_types.gift"), "--bank", "practice", "--quiz-dir", "qz").exit_code == 0
    result = run("preview", "practice", "--seed", "7", "--quiz-dir", "qz")
    assert result.exit_code == 0
    view = json.loads(result.stdout)
    assert len(view["questions"]) == 8
    assert "explanation" not in result.stdout and "correct" not in result.stdout
    assert run("preview", "practice", "--seed", "7", "--quiz-dir", "qz").stdout == result.stdout


LENIENT = """::Who::Which team takes extortion cases?{=Threat Management =%50%Security}

::Hours::How many hours does a bulletin allow?{#4}

::Route::Match the issue to the team.{=Attacker back -> Threat Management =Police request -> Privacy & Investigations}

::Essay::Describe how you calm an upset caller.{}
"""


def test_import_gift_is_lenient_about_sources_and_explanations_and_honest_about_the_rest(run, tmp_path):
    (tmp_path / "moodle.gift").write_text(LENIENT, encoding="utf-8")
    refused = run("import-gift", "moodle.gift", "--bank", "moodle", "--source", "ATO-RECOVERY#escalate")
    assert refused.exit_code == 1 and not (tmp_path / "quizzes").exists()
    assert "moodle.gift:7: error: question 'Essay' not imported: essay questions" in refused.stderr
    done = run(
        "import-gift", "moodle.gift", "--bank", "moodle", "--source", "ATO-RECOVERY#escalate", "--skip-unsupported"
    )
    assert done.exit_code == 0, done.output
    assert "wrote quizzes/moodle.yml: 3 question(s)" in done.stdout
    assert done.stderr.count("has no explanation") == 3 and "(skipped)" in done.stderr
    check = run("validate", "--json")
    report = json.loads(check.stdout)
    assert report["ok"] and sum("has no explanation" in p["message"] for p in report["problems"]) == 3
    assert {p["line"] for p in report["problems"]} and all(p["severity"] == "warning" for p in report["problems"])


def test_import_gift_in_a_wrong_encoding_writes_nothing(run, tmp_path):
    (tmp_path / "latin.gift").write_bytes("::a::Délai ?{#4}\n".encode("cp1252"))
    result = run("import-gift", "latin.gift", "--bank", "latin", "--source", "ATO-RECOVERY#escalate")
    assert result.exit_code == 1 and "latin.gift:1: error: GIFT file is not valid UTF-8" in result.stderr
    assert not (tmp_path / "quizzes").exists()

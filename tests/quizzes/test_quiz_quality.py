"""Quiz quality rules in `kb validate`: answerable from the cited section, no give-aways within a
bank, ordering questions in the order their section prescribes. One failing fixture per rule
(tests/quizzes/fixtures/quality/), plus the real banks against the real corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures.sops import CORPUS, REPO_ROOT, SopDir

from kb_app.catalog import load_catalog
from kb_app.cli import main
from kb_app.quizzes import catalog_index, read_banks, visible_by_tier
from kb_app.quizzes.quality import giveaways, terms
from kb_app.quizzes.schema import ShortAnswer, SingleChoice

QUALITY = Path(__file__).parent / "fixtures" / "quality"
SOP_BODY = """## Recover {#recover}

1. **Protective lock.** Apply the protective lock so the attacker cannot act; it lasts 24 hours.
2. **Factors.** Remove the attacker's factors added in the window.
3. **Password.** Reset the password through the verified channel.
4. **Sessions.** Sign out everywhere once the new password is set.

## Escalate {#escalate}

Threats and extortion go to Threat Management on the urgent route. Dual claims go to Tier 2
investigators, who decide on the earliest independent evidence. A customer who swears at you
is not a threat; carry on calmly.
"""


@pytest.fixture
def workspace(tmp_path):
    sop_dir = SopDir(tmp_path / "sop")
    sop_dir.write("ATO-X", body=SOP_BODY)
    quiz_dir = tmp_path / "quizzes"
    quiz_dir.mkdir()
    return sop_dir.root, quiz_dir


def kb_validate(workspace, fixture: str):
    sop_root, quiz_dir = workspace
    shutil.copy(QUALITY / fixture, quiz_dir / fixture)
    result = CliRunner().invoke(
        main, ["validate", "--sop-dir", str(sop_root), "--quiz-dir", str(quiz_dir), "--no-git"], catch_exceptions=False
    )
    lines = [line for line in result.stderr.splitlines() if ": error: " in line or ": warning: " in line]
    return result.exit_code, lines, (quiz_dir / fixture).read_text().splitlines()


def line_of(problem: str) -> int:
    return int(problem.split(":")[1])


def test_the_clean_fixture_passes_every_rule(workspace):
    code, lines, _ = kb_validate(workspace, "clean.yml")
    assert code == 0 and lines == []


def test_an_accepted_short_answer_printed_in_a_sibling_is_an_error(workspace):
    code, lines, text = kb_validate(workspace, "giveaway_short_answer.yml")
    assert code == 1
    [error] = lines
    assert "quizzes/giveaway_short_answer.yml:" in error and ": error: " in error
    assert "`angry-caller` gives away the answer to `which-team`" in error
    assert "prints the accepted answer 'Threat Management'" in error
    assert "angry-caller" in text[line_of(error) - 2] or "stem:" in text[line_of(error) - 1]


def test_a_sibling_stating_the_number_that_tells_the_correct_option_is_an_error(workspace):
    code, lines, text = kb_validate(workspace, "giveaway_number.yml")
    assert code == 1
    [error] = lines
    assert "`lock-wording` gives away the answer to `lock-length`" in error and "'24 hours'" in error
    assert text[line_of(error) - 1].lstrip().startswith("stem:")


def test_an_ordering_question_out_of_the_sections_order_is_an_error(workspace):
    code, lines, text = kb_validate(workspace, "ordering_out_of_order.yml")
    assert code == 1
    [error] = lines
    assert "ordering question `order` does not follow the order of ATO-X#recover" in error
    assert (
        """'Apply the protective lock' -> "Remove the attacker's factors" -> 'Reset the password' -> 'Sign out everywhere'"""
        in error
    )
    assert text[line_of(error) - 1].strip() == "items:"


def test_an_ordering_item_the_section_does_not_describe_is_an_error(workspace):
    code, lines, _ = kb_validate(workspace, "ordering_unknown_item.yml")
    assert code == 1
    [error] = lines
    assert 'does not describe "Call the customer\'s bank"' in error


def test_a_correct_answer_missing_from_the_cited_section_is_a_warning_listing_the_terms(workspace):
    code, lines, text = kb_validate(workspace, "answer_not_in_section.yml")
    assert code == 0
    [warning] = lines
    assert ": warning: question `who-decides`: the cited section ATO-X#recover" in warning
    assert "missing: tier, investigators, earliest, independent, evidence" in warning
    assert text[line_of(warning) - 1].strip() == "source: ATO-X#recover"


def test_the_same_answer_is_fine_when_cited_to_the_section_that_holds_it(workspace):
    sop_root, quiz_dir = workspace
    fixed = (
        (QUALITY / "answer_not_in_section.yml")
        .read_text()
        .replace(
            "  - id: who-decides\n    type: single\n    source: ATO-X#recover",
            "  - id: who-decides\n    type: single\n    source: ATO-X#escalate",
        )
    )
    (quiz_dir / "bank.yml").write_text(fixed)
    result = CliRunner().invoke(main, ["validate", "--sop-dir", str(sop_root), "--quiz-dir", str(quiz_dir), "--no-git"])
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_key_terms_skip_common_words_and_keep_codes_and_numbers():
    assert [t.text for t in terms("Escalate the case to Tier 2 with S1 and RF12 within 72h")] == [
        "escalate",
        "tier",
        "2",
        "s1",
        "rf12",
        "72h",
    ]


def test_a_bare_number_short_answer_is_not_a_giveaway_on_its_own():
    question = ShortAnswer.model_validate(
        {
            "id": "n",
            "type": "short_answer",
            "source": "ATO-X#recover",
            "stem": "How many?",
            "explanation": "x",
            "accepted": ["2"],
        }
    )
    sibling = SingleChoice.model_validate(
        {
            "id": "s",
            "type": "single",
            "source": "ATO-X#recover",
            "stem": "Tier 2 or not?",
            "explanation": "x",
            "options": [{"text": "Yes", "correct": True}, {"text": "No"}],
        }
    )
    assert giveaways(question, sibling) is None


# --- the real banks against the real corpus -----------------------------------------------------


def test_the_real_banks_pass_every_quality_rule():
    catalog = load_catalog(CORPUS)
    sections, versions = catalog_index(catalog)
    result = read_banks(REPO_ROOT / "quizzes", sections=sections, versions=versions, visible=visible_by_tier(catalog))
    assert [str(p) for p in result.problems] == []


def test_the_new_major_versions_of_the_review_have_update_quizzes():
    catalog = load_catalog(CORPUS)
    sections, versions = catalog_index(catalog)
    banks = read_banks(REPO_ROOT / "quizzes", sections=sections, versions=versions).banks.values()
    updates = {(b.sops[0], b.version) for b in banks if b.kind == "update"}
    for sop_id in (
        "BUL-2026-11-MASS-ATO",
        "ATO-RECOVERY",
        "MINOR-ACCOUNTS",
        "TWO-STEP-RESET",
        "SIM-SWAP",
        "SESSION-REVOCATION",
    ):
        current = catalog.get(sop_id).version.split(".")[0]
        assert any(s == sop_id and v.split(".")[0] == current for s, v in updates), sop_id


def test_the_t1_certification_drills_the_safe_order_not_sessions_first():
    catalog = load_catalog(CORPUS)
    sections, versions = catalog_index(catalog)
    bank = read_banks(REPO_ROOT / "quizzes", sections=sections, versions=versions).banks["cert-t1-account-security"]
    order = next(q for q in bank.questions if q.id == "ato-recover-order")
    assert order.items[-1].startswith("Sign out everywhere") and "Reset the password" in order.items[-2]
    ids = {q.id for q in bank.questions}
    assert {"relay-hesitation", "second-caller", "teen-present-guardian", "refund-over-limit"} <= ids

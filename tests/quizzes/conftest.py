"""Shared pieces for the quiz tests: the fixture directory, the SOP sections banks cite, a good bank."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb_app.quizzes.bank import parse_bank

FIXTURES = Path(__file__).parent / "fixtures"

# What the SOP catalog would say: section anchors and known versions per SOP.
SECTIONS = {
    "ATO-RECOVERY": {"verify-ownership", "secure-account", "escalate"},
    "TWO-STEP-RESET": {"reset-steps"},
}
VERSIONS = {"ATO-RECOVERY": {"2.0", "3.0"}, "TWO-STEP-RESET": {"1.0"}}


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def good_bank_bytes() -> bytes:
    return (FIXTURES / "good_bank.yml").read_bytes()


@pytest.fixture
def good_bank(good_bank_bytes):
    bank, problems = parse_bank(good_bank_bytes, "good_bank.yml", sections=SECTIONS, versions=VERSIONS)
    assert bank is not None, [str(p) for p in problems]
    return bank


@pytest.fixture
def quiz_dir(tmp_path) -> Path:
    path = tmp_path / "quizzes"
    path.mkdir()
    return path


@pytest.fixture
def sections() -> dict[str, set[str]]:
    return {sop_id: set(anchors) for sop_id, anchors in SECTIONS.items()}


@pytest.fixture
def versions() -> dict[str, set[str]]:
    return {sop_id: set(known) for sop_id, known in VERSIONS.items()}

"""References and the expert-review record: front matter, validation, the page, and stale reviews."""

from __future__ import annotations

from datetime import UTC, datetime

from fixtures.sops import CORPUS

from kb_app.catalog import load_catalog, validate_catalog
from kb_app.sites.render import PageContext, sop_page

REFERENCES = [
    {
        "id": "OWASP-FP",
        "title": "OWASP Forgot Password Cheat Sheet",
        "url": "https://cheatsheetseries.owasp.org/cheatsheets/Forgot_Password_Cheat_Sheet.html",
        "supports": "Sign out after the password reset.",
    },
    {"id": "WA-RELAY", "title": "Reporting on code relay scams"},
]
REVIEW = {"version": "1.0", "date": "2026-12-01", "reviewer": "Ops review", "against": ["OWASP-FP"]}


def _problems(sop_dir):
    return [str(p) for p in validate_catalog(load_catalog(sop_dir.root), against=None).problems]


def test_references_and_reviews_load_and_validate(sop_dir):
    sop_dir.write("ATO-RECOVERY", references=REFERENCES, reviews=[REVIEW])
    sop = load_catalog(sop_dir.root).get("ATO-RECOVERY")
    assert [r.id for r in sop.references] == ["OWASP-FP", "WA-RELAY"]
    assert sop.reviews[0].against == ["OWASP-FP"] and sop.review_state == "current"
    assert _problems(sop_dir) == []


def test_references_are_not_part_of_the_acknowledged_text(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    before = load_catalog(sop_dir.root).get("ATO-RECOVERY").content_hash
    sop_dir.write("ATO-RECOVERY", references=REFERENCES, reviews=[REVIEW])
    assert load_catalog(sop_dir.root).get("ATO-RECOVERY").content_hash == before


def test_review_against_an_unlisted_reference_or_unknown_version_is_an_error(sop_dir):
    path = sop_dir.write(
        "ATO-RECOVERY",
        references=REFERENCES,
        reviews=[{**REVIEW, "version": "0.9", "against": ["NIST-63A"]}],
    )
    problems = _problems(sop_dir)
    assert any("review of version 0.9, which is not in the changelog" in p for p in problems)
    assert any("against NIST-63A, which is not in this SOP's references" in p for p in problems)
    assert all(p.startswith(f"{path}:") for p in problems)


def test_a_reference_listed_twice_is_an_error(sop_dir):
    sop_dir.write("ATO-RECOVERY", references=[REFERENCES[0], REFERENCES[0]])
    assert any("reference OWASP-FP is listed twice" in p for p in _problems(sop_dir))


def test_a_reference_url_must_be_http(sop_dir):
    sop_dir.write("ATO-RECOVERY", references=[{**REFERENCES[0], "url": "javascript:alert(1)"}])
    assert any("must be an http(s) address" in p for p in _problems(sop_dir))


def test_a_review_of_an_older_major_is_stale(sop_dir):
    changelog = [
        {"version": "2.0", "date": "2026-12-02", "summary": "Material change."},
        {"version": "1.0", "date": "2026-01-01", "summary": "First."},
    ]
    sop_dir.write("ATO-RECOVERY", version="2.0", changelog=changelog, references=REFERENCES, reviews=[REVIEW])
    assert load_catalog(sop_dir.root).get("ATO-RECOVERY").review_state == "stale"
    sop_dir.write("ATO-RECOVERY", version="2.0", changelog=changelog)
    assert load_catalog(sop_dir.root).get("ATO-RECOVERY").review_state == "never"


def test_the_page_lists_references_with_links_and_the_review_record(sop_dir):
    sop_dir.write("ATO-RECOVERY", references=REFERENCES, reviews=[REVIEW])
    sop = load_catalog(sop_dir.root).get("ATO-RECOVERY")
    page = sop_page(sop, PageContext("T1", datetime(2026, 12, 2, tzinfo=UTC), diagrams=False))
    assert "## References and reviews {#kb-references}" in page
    assert f"[OWASP Forgot Password Cheat Sheet]({REFERENCES[0]['url']}): Sign out after the password reset." in page
    assert "**WA-RELAY** Reporting on code relay scams" in page
    assert "| 1.0 | 2026-12-01 | Ops review | OWASP-FP |" in page
    assert page.index("kb-references") < page.index("kb-changelog")


def test_a_page_without_references_has_no_references_section(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop = load_catalog(sop_dir.root).get("ATO-RECOVERY")
    assert "kb-references" not in sop_page(sop, PageContext("T1", datetime.now(UTC), diagrams=False))


def test_every_sop_corrected_by_the_expert_review_cites_its_sources_and_records_the_review():
    catalog = load_catalog(CORPUS)
    for sop_id in (
        "ATO-RECOVERY",
        "TWO-STEP-RESET",
        "SIM-SWAP",
        "BUL-2026-11-MASS-ATO",
        "SESSION-REVOCATION",
        "MINOR-ACCOUNTS",
        "PASSKEY-RECOVERY",
    ):
        sop = catalog.get(sop_id)
        assert sop.references, sop_id
        assert sop.review_state == "current", sop_id

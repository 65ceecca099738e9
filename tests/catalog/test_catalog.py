"""The catalog: loading, sections and anchors, tier blocks, content hashes and diffs."""

from __future__ import annotations

import json

from click.testing import CliRunner

from fixtures.sops import git
from kb_app.catalog import diff_texts, load_catalog, split_sections, text_for_tier
from kb_app.catalog.hashing import normalize_text
from kb_app.cli import main

TIERED_BODY = """Lead paragraph.

## Verify ownership {#verify-ownership}

Ask for two signals.

/// tier | T2
### Infrastructure check {#infra-check}
Compare the login ASN with the attacker cluster list.
///

## Decision table

| signal | weight |
| --- | --- |
| device | strong |
"""


def test_load_catalog_reads_every_sop(sop_dir):
    sop_dir.write("ATO-RECOVERY", version="3.0")
    sop_dir.write("ESC-THREAT-MGMT", kind="escalation")
    catalog = load_catalog(sop_dir.root)
    assert catalog.ok
    assert [s.id for s in catalog] == ["ATO-RECOVERY", "ESC-THREAT-MGMT"]
    sop = catalog.get("ATO-RECOVERY")
    assert (sop.version, sop.major, sop.minor) == ("3.0", 3, 0)
    assert sop.rel_path == "procedures/ato-recovery.md"


def test_version_is_never_read_as_a_number(sop_dir):
    path = sop_dir.write("ATO-X", version="3.10")
    assert "version: 3.10\n" in path.read_text()  # unquoted on purpose
    assert load_catalog(sop_dir.root).get("ATO-X").version == "3.10"


def test_sections_have_stable_anchors_and_file_lines(sop_dir):
    path = sop_dir.write("ATO-X", body=TIERED_BODY)
    sop = load_catalog(sop_dir.root).get("ATO-X")
    anchors = [s.anchor for s in sop.sections]
    assert anchors == ["", "verify-ownership", "infra-check", "decision-table"]
    lines = path.read_text().splitlines()
    for section in sop.sections[1:]:
        assert lines[section.line - 1].lstrip("#").strip().startswith(section.heading)


def test_tier1_text_drops_tier2_blocks_and_tier2_sees_them_boxed():
    t1 = text_for_tier(TIERED_BODY, "T1")
    t2 = text_for_tier(TIERED_BODY, "T2")
    assert "attacker cluster" not in t1 and "Infrastructure check" not in t1
    assert '!!! tier-t2 "Tier 2 only"' in t2 and "    Compare the login ASN" in t2
    assert [s.anchor for s in split_sections(t1)] == ["", "verify-ownership", "decision-table"]


def test_code_fences_hide_headings_and_tier_markers():
    body = "## Real\n\n```\n## Not a heading\n/// tier | T2\n```\n"
    assert [s.anchor for s in split_sections(body)] == ["real"]
    assert text_for_tier(body, "T1") == body


def test_anchors_match_what_markdown_renders():
    import markdown

    from kb_app.catalog.sections import MARKDOWN_EXTENSION_CONFIGS, MARKDOWN_EXTENSIONS

    body = "## Step 1: Check the *device*\n\n## Step 1: Check the *device*\n\n## Café & SMS {#cafe}\n"
    html = markdown.markdown(body, extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_EXTENSION_CONFIGS)
    for section in split_sections(body):
        assert f'id="{section.anchor}"' in html


def test_content_hash_ignores_whitespace_noise_but_not_words(sop_dir):
    sop_dir.write("ATO-X", body="## Steps\n\nDo this.\n")
    first = load_catalog(sop_dir.root).get("ATO-X").content_hash
    sop_dir.write("ATO-X", body="## Steps   \r\n\r\n\r\n\r\nDo this.\r\n")
    assert load_catalog(sop_dir.root).get("ATO-X").content_hash == first
    sop_dir.write("ATO-X", body="## Steps\n\nDo that.\n")
    assert load_catalog(sop_dir.root).get("ATO-X").content_hash != first


def test_tier_hashes_differ_only_when_tier_text_differs(sop_dir):
    sop_dir.write("ATO-X", body=TIERED_BODY)
    sop = load_catalog(sop_dir.root).get("ATO-X")
    assert sop.content_hash_for("T1") != sop.content_hash_for("T2")
    sop_dir.write("ATO-Y", body="## Plain\n\nNo tier blocks.\n")
    plain = load_catalog(sop_dir.root).get("ATO-Y")
    assert plain.content_hash_for("T1") == plain.content_hash_for("T2")


def test_escalation_steps_are_part_of_the_hash(sop_dir):
    from fixtures.sops import ESCALATION_STEPS

    sop_dir.write("ESC-X", kind="escalation")
    first = load_catalog(sop_dir.root).get("ESC-X").content_hash
    sop_dir.write("ESC-X", kind="escalation", steps=[dict(ESCALATION_STEPS[0], sla="8h")])
    assert load_catalog(sop_dir.root).get("ESC-X").content_hash != first


def test_normalize_text_is_idempotent():
    text = "a  \r\n\r\n\r\nb\u0065\u0301\n"
    assert normalize_text(normalize_text(text)) == normalize_text(text)


def test_diff_by_section_marks_added_removed_and_changed():
    old = "## Keep\n\nsame\n\n## Change\n\nold wording\n\n## Drop\n\ngone\n"
    new = "## Keep\n\nsame\n\n## Change\n\nnew wording\n\n## Add\n\nfresh\n"
    result = diff_texts(old, new)
    status = {c.anchor: c.status for c in result.sections}
    assert status == {"keep": "unchanged", "change": "changed", "add": "added", "drop": "removed"}
    changed = next(c for c in result.sections if c.anchor == "change")
    assert ("remove", "old wording") in [(ln.kind, ln.text) for ln in changed.lines]
    assert ("add", "new wording") in [(ln.kind, ln.text) for ln in changed.lines]
    assert "-old wording" in result.unified and "+new wording" in result.unified


def test_diff_of_identical_texts_has_no_changes():
    assert not diff_texts("## A\n\nx\n", "## A\n\nx\n").changed


class TestCli:
    def test_catalog_json_lists_every_field(self, sop_dir):
        sop_dir.write("ATO-X", body=TIERED_BODY)
        result = CliRunner().invoke(main, ["catalog", "--json", "--sop-dir", str(sop_dir.root)])
        assert result.exit_code == 0, result.output
        [entry] = json.loads(result.stdout)
        for key in ("id", "kind", "version", "status", "audience", "visibility", "content_hash", "path", "sections"):
            assert key in entry
        assert entry["sections"][1]["anchor"] == "verify-ownership"

    def test_validate_exit_codes_and_format(self, sop_dir):
        sop_dir.write("ATO-X")
        runner = CliRunner()
        ok = runner.invoke(
            main,
            ["validate", "--no-git", "--sop-dir", str(sop_dir.root), "--quiz-dir", str(sop_dir.root / "no-quizzes")],
        )
        assert ok.exit_code == 0, ok.output
        sop_dir.write("ATO-Y", related=["GONE"])
        bad = runner.invoke(
            main,
            ["validate", "--no-git", "--sop-dir", str(sop_dir.root), "--quiz-dir", str(sop_dir.root / "no-quizzes")],
        )
        assert bad.exit_code == 1
        assert "ato-y.md:" in bad.stderr and ": error: related names GONE" in bad.stderr

    def test_validate_json(self, sop_dir):
        sop_dir.write("ATO-X", review_by="2020-06-01", effective="2020-01-01")
        result = CliRunner().invoke(
            main,
            [
                "validate",
                "--no-git",
                "--json",
                "--sop-dir",
                str(sop_dir.root),
                "--quiz-dir",
                str(sop_dir.root / "no-quizzes"),
            ],
        )
        data = json.loads(result.stdout)
        assert result.exit_code == 0 and data["ok"] and data["warnings"] == 1

    def test_usage_error_exits_2(self):
        assert CliRunner().invoke(main, ["validate", "--bogus"]).exit_code == 2

    def test_diff_against_git(self, git_sop_dir):
        git_sop_dir.write("ATO-X", body="## Steps\n\nold step\n")
        git(git_sop_dir.root.parent, "add", "-A")
        git(git_sop_dir.root.parent, "commit", "-q", "-m", "v1")
        git_sop_dir.write("ATO-X", version="2.0", body="## Steps\n\nnew step\n")
        result = CliRunner().invoke(main, ["diff", "ATO-X", "--sop-dir", str(git_sop_dir.root), "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["from"] == "1.0" and data["to"] == "2.0"
        assert data["sections"][0]["status"] == "changed"

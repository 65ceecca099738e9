"""Every `kb validate` rule has a failing fixture, asserting the file and line it names."""

from __future__ import annotations

from datetime import date

import pytest

from fixtures.sops import ESCALATION_STEPS, git
from kb_app.catalog import validate

TODAY = date(2026, 11, 25)


def problems_of(sop_dir, **kwargs):
    report = validate(sop_dir.root, against=None, today=TODAY, **kwargs)
    return report, [str(p) for p in report.problems]


def only_error(sop_dir):
    report, lines = problems_of(sop_dir)
    assert not report.ok, "expected an error"
    assert len(report.errors) == 1, lines
    return report.errors[0]


def test_clean_directory_has_no_problems(sop_dir):
    sop_dir.write("ATO-RECOVERY")
    sop_dir.write("ESC-THREAT-MGMT", kind="escalation")
    report, lines = problems_of(sop_dir)
    assert report.ok and lines == []


@pytest.mark.parametrize(
    "raw, line, words",
    [
        ("", 1, "file is empty"),
        ("## Just a body\n", 1, "missing front matter"),
        ("---\nid: X\n", 1, "front matter is not closed"),
        ("---\nid: ATO-X\ntitle: [unclosed\n---\nbody\n", 4, "malformed YAML"),
        ("---\n- a\n- b\n---\nbody\n", 2, "must be a YAML mapping"),
        (b"---\nid: ATO-X\ntitle: caf\xe9\n---\n", 3, "not valid UTF-8"),
    ],
    ids=["empty", "no-front-matter", "unclosed", "malformed-yaml", "not-a-mapping", "not-utf8"],
)
def test_unreadable_files_get_a_clear_message(sop_dir, raw, line, words):
    path = sop_dir.write("ATO-X", raw=raw)
    error = only_error(sop_dir)
    assert error.path.endswith(path.name)
    assert error.line == line
    assert words in error.message


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"kind": "howto"}, "kind", "`kind`"),
        (
            {"version": "2", "changelog": [{"version": "1.0", "date": "2026-01-01", "summary": "x"}]},
            "version",
            "is not MAJOR.MINOR",
        ),
        ({"status": "live"}, "status", "`status`"),
        ({"audience": {"tiers": ["T3"]}}, "  - T3", "audience.tiers.0"),
        ({"visibility": "secret"}, "visibility", "`visibility`"),
        ({"effective": "soon"}, "effective", "`effective`"),
        ({"tags": ["Bad Tag"]}, "tags", "lower-case"),
        ({"colour": "red"}, "colour", "unknown field `colour`"),
        ({"id": "ato recovery"}, "id", "upper-case"),
    ],
)
def test_schema_errors_name_the_field_line(sop_dir, overrides, field, words):
    path = sop_dir.write("ATO-X", **overrides)
    error = only_error(sop_dir) if field != "id" else problems_of(sop_dir)[0].errors[0]
    lines = path.read_text().splitlines()
    marker = field if field.startswith(" ") else f"{field}:"
    expected_line = next(i for i, ln in enumerate(lines, 1) if ln.startswith(marker))
    assert error.line == expected_line, str(error)
    assert words in error.message


def test_missing_field_is_named(sop_dir):
    from fixtures.sops import front_matter, render_sop

    data = front_matter("ATO-X")
    del data["owner"]
    sop_dir.write("ATO-X", raw=render_sop(data))
    error = only_error(sop_dir)
    assert "missing required field `owner`" in error.message


def test_duplicate_ids_are_reported_with_the_first_file(sop_dir):
    sop_dir.write("ATO-X")
    sop_dir.write("ATO-X", filename="ato-x-copy.md")
    report, lines = problems_of(sop_dir)
    assert any("duplicate id ATO-X: already used by" in ln for ln in lines), lines


def test_id_must_match_file_name(sop_dir):
    sop_dir.write("ATO-X", filename="something-else.md")
    error = only_error(sop_dir)
    assert error.line == 2 and "name the file ato-x.md" in error.message


def test_current_version_must_head_the_changelog(sop_dir):
    sop_dir.write("ATO-X", version="2.0", changelog=[{"version": "1.0", "date": "2026-01-01", "summary": "Old."}])
    error = only_error(sop_dir)
    assert "current version 2.0 has no changelog entry" in error.message


def test_changelog_must_be_ordered_newest_first(sop_dir):
    sop_dir.write(
        "ATO-X",
        version="2.0",
        changelog=[
            {"version": "2.0", "date": "2026-03-01", "summary": "New."},
            {"version": "1.0", "date": "2026-01-01", "summary": "First."},
            {"version": "1.1", "date": "2026-02-01", "summary": "Between."},
        ],
    )
    report, lines = problems_of(sop_dir)
    assert any("not ordered newest first: 1.1 comes after 1.0" in ln for ln in lines), lines


def test_changelog_dates_must_not_go_backwards(sop_dir):
    sop_dir.write(
        "ATO-X",
        version="2.0",
        changelog=[
            {"version": "2.0", "date": "2026-01-01", "summary": "New."},
            {"version": "1.0", "date": "2026-03-01", "summary": "First."},
        ],
    )
    assert "dates go backwards" in only_error(sop_dir).message


def test_related_and_escalation_ids_must_exist(sop_dir):
    sop_dir.write("ATO-X", related=["NOPE-ONE"], escalation=["ESC-NOPE"])
    report, lines = problems_of(sop_dir)
    assert any("related names NOPE-ONE, which does not exist" in ln for ln in lines)
    assert any("escalation names ESC-NOPE, which does not exist" in ln for ln in lines)


def test_escalation_field_must_name_an_escalation_path(sop_dir):
    sop_dir.write("ATO-X", escalation=["ATO-Y"])
    sop_dir.write("ATO-Y")
    assert "which is a sop, not an escalation path" in only_error(sop_dir).message


def test_broken_link_to_missing_file_names_the_line(sop_dir):
    path = sop_dir.write("ATO-X", body="## Steps\n\nSee [the other](missing-sop.md).\n")
    error = only_error(sop_dir)
    assert "missing-sop.md" in path.read_text().splitlines()[error.line - 1]
    assert "which does not exist" in error.message


def test_broken_anchor_is_reported(sop_dir):
    sop_dir.write("ATO-X", body="## Steps\n\nSee [the other](ato-y.md#nowhere).\n")
    sop_dir.write("ATO-Y")
    assert "ATO-Y has no section #nowhere" in only_error(sop_dir).message


def test_link_to_anchor_in_the_same_page(sop_dir):
    sop_dir.write("ATO-X", body="## Steps {#steps}\n\nSee [above](#steps) and [gone](#gone).\n")
    assert "has no section #gone" in only_error(sop_dir).message


def test_links_in_code_are_not_checked(sop_dir):
    sop_dir.write("ATO-X", body="## Steps\n\n```\n[x](missing.md)\n```\n\nUse `[y](missing.md)` syntax.\n")
    report, lines = problems_of(sop_dir)
    assert report.ok, lines


def test_tier1_page_must_not_link_to_t2_only_page(sop_dir):
    sop_dir.write("ATO-X", body="## Steps\n\nSee [infra](t2-infra.md).\n")
    sop_dir.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]})
    error = only_error(sop_dir)
    assert "T2-INFRA, which is t2_only, from text Tier 1 can read" in error.message


def test_link_to_t2_only_page_inside_a_t2_block_is_allowed(sop_dir):
    sop_dir.write("ATO-X", body="## Steps\n\n/// tier | T2\nSee [infra](t2-infra.md).\n///\n")
    sop_dir.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]})
    report, lines = problems_of(sop_dir)
    assert report.ok, lines


def test_tier1_page_must_not_relate_to_t2_only_page(sop_dir):
    sop_dir.write("ATO-X", related=["T2-INFRA"])
    sop_dir.write("T2-INFRA", visibility="t2_only", audience={"tiers": ["T2"]})
    assert "which is t2_only, from a page Tier 1 can read" in only_error(sop_dir).message


def test_link_from_tier1_text_to_a_tier2_section_is_refused(sop_dir):
    sop_dir.write("ATO-X", body="## Steps\n\nSee [deep](ato-y.md#asn-check).\n")
    sop_dir.write("ATO-Y", body="## Steps\n\n/// tier | T2\n### ASN check {#asn-check}\nSecret.\n///\n")
    assert "is Tier 2 only" in only_error(sop_dir).message


def test_t2_only_with_tier1_audience_is_refused(sop_dir):
    sop_dir.write("T2-INFRA", visibility="t2_only")
    assert "t2_only cannot have T1" in only_error(sop_dir).message


def test_stale_review_date_is_a_warning_only(sop_dir):
    sop_dir.write("ATO-X", review_by="2026-02-01")
    report, lines = problems_of(sop_dir)
    assert report.ok
    assert len(report.warnings) == 1 and "stale" in report.warnings[0].message


def test_heading_anchors_must_be_unique(sop_dir):
    path = sop_dir.write("ATO-X", body="## Steps\n\ntext\n\n## Steps\n\nmore\n")
    error = only_error(sop_dir)
    second = [i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln == "## Steps"][1]
    assert error.line == second and "#steps is used twice" in error.message


def test_unclosed_tier_block_names_its_line(sop_dir):
    path = sop_dir.write("ATO-X", body="## Steps\n\n/// tier | T2\nsecret\n")
    error = only_error(sop_dir)
    assert path.read_text().splitlines()[error.line - 1] == "/// tier | T2"
    assert "not closed" in error.message


def test_unknown_tier_in_block(sop_dir):
    sop_dir.write("ATO-X", body="## Steps\n\n/// tier | T3\nsecret\n///\n")
    assert "needs tiers T1 and/or T2" in only_error(sop_dir).message


def test_escalation_needs_steps_and_known_teams(sop_dir):
    sop_dir.write("ESC-A", kind="escalation", steps=None)
    bad_step = dict(ESCALATION_STEPS[0], to_team="Marketing")
    sop_dir.write("ESC-B", kind="escalation", steps=[bad_step])
    report, lines = problems_of(sop_dir)
    assert any("needs `steps`" in ln for ln in lines), lines
    assert any("unknown team 'Marketing'" in ln for ln in lines), lines


def test_bulletin_needs_ack_within(sop_dir):
    sop_dir.write("BUL-X", kind="bulletin", ack_within=None)
    assert "needs `ack_within`" in only_error(sop_dir).message


def test_bad_duration_is_named(sop_dir):
    sop_dir.write("BUL-X", kind="bulletin", ack_within="soon")
    assert "is not a number followed by m, h or d" in only_error(sop_dir).message


def test_every_problem_is_reported_in_one_run(sop_dir):
    sop_dir.write("ATO-X", related=["NOPE"], body="## A\n\n[x](gone.md)\n\n## A\n")
    sop_dir.write("ATO-Y", raw="")
    report, lines = problems_of(sop_dir)
    assert len(report.errors) == 4, lines


class TestAgainstGit:
    def commit(self, sop_dir, message="change"):
        repo = sop_dir.root.parent
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", message)

    def test_changed_text_without_bump_is_refused(self, git_sop_dir):
        git_sop_dir.write("ATO-X")
        self.commit(git_sop_dir)
        path = git_sop_dir.write("ATO-X", body="## Purpose\n\nA materially different procedure.\n")
        report = validate(git_sop_dir.root, against="HEAD", today=TODAY)
        assert len(report.errors) == 1
        error = report.errors[0]
        assert "changed since HEAD but version is still 1.0" in error.message
        assert path.read_text().splitlines()[error.line - 1].startswith("version:")

    def test_bumped_version_is_accepted(self, git_sop_dir):
        git_sop_dir.write("ATO-X")
        self.commit(git_sop_dir)
        git_sop_dir.write("ATO-X", version="1.1", body="## Purpose\n\nReworded.\n")
        assert validate(git_sop_dir.root, against="HEAD", today=TODAY).ok

    def test_rename_is_followed_by_id(self, git_sop_dir):
        git_sop_dir.write("ATO-X")
        self.commit(git_sop_dir)
        (git_sop_dir.root / "procedures" / "ato-x.md").unlink()
        git_sop_dir.write("ATO-X", body="changed text\n", filename="ato-x.md")
        report = validate(git_sop_dir.root, against="HEAD", today=TODAY)
        assert any("version is still" in p.message for p in report.errors)

    def test_version_going_backwards_is_refused(self, git_sop_dir):
        git_sop_dir.write("ATO-X", version="2.0")
        self.commit(git_sop_dir)
        git_sop_dir.write("ATO-X", version="1.5")
        report = validate(git_sop_dir.root, against="HEAD", today=TODAY)
        assert any("went backwards" in p.message for p in report.errors)

    def test_unknown_revision_is_a_warning(self, git_sop_dir):
        git_sop_dir.write("ATO-X")
        report = validate(git_sop_dir.root, against="no-such-rev", today=TODAY)
        assert report.ok and "cannot compare with git revision" in report.warnings[0].message

"""Facts as data: markers rendered everywhere, resolved by `kb validate`, and the rules that keep
SOP text consistent with the escalation paths it cites."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fixtures.sops import CORPUS, git

from kb_app.catalog import load_catalog, validate, validate_catalog
from kb_app.catalog.consistency import find_time_contradictions
from kb_app.catalog.facts import parse_facts
from kb_app.catalog.schema import parse_duration
from kb_app.search.documents import sop_documents
from kb_app.sites.render import PageContext, sop_page

TODAY = date(2026, 12, 2)
STEPS = [
    {
        "id": "priority",
        "trigger": "P1 or P2 case Tier 1 cannot close",
        "from_tier": "T1",
        "to_team": "Account Security Tier 2",
        "channel": "Case queue ATO-T2-Priority",
        "sla": "4h",
        "customer_told": "4h",
        "required_fields": ["case_id", "account_id", "priority", "verification_signals", "compromise_window"],
    },
    {
        "id": "standard",
        "trigger": "P3 or P4 case",
        "from_tier": "T1",
        "to_team": "Account Security Tier 2",
        "channel": "Case queue ATO-T2-Review",
        "sla": "1d",
        "customer_told": "2d",
        "required_fields": ["case_id", "account_id", "priority", "reason_for_escalation"],
    },
]
FACTS = "facts:\n  re-compromise-window:\n    value: 14 days\n    note: Back in after a recovery.\n"


def write_corpus(sop_dir, body: str, facts: str = FACTS, steps=STEPS, **front):
    sop_dir.write("ESC-T2", kind="escalation", steps=steps, body="## When to escalate {#when-to-escalate}\n\nText.\n")
    (sop_dir.root / "facts.yml").write_text(facts, encoding="utf-8")
    return sop_dir.write("ATO-X", body=body, escalation=["ESC-T2"], **front)


def problems(sop_dir):
    report = validate_catalog(load_catalog(sop_dir.root), against=None, today=TODAY)
    return report, [str(p) for p in report.problems]


# --- rendering -------------------------------------------------------------------------------


BODY = (
    "## What to escalate {#what-to-escalate}\n\n"
    "- Back within {{ fact:re-compromise-window }}: escalate.\n"
    "- Below threshold: [Tier 2](../escalations/esc-t2.md#when-to-escalate), customer told "
    "{{ told:ESC-T2/standard }} (queue takes {{ sla:ESC-T2/standard }}).\n\n"
    "Required fields: {{ fields:ESC-T2/standard }}.\n"
)


def test_markers_render_as_values_in_the_text_agents_read(sop_dir):
    write_corpus(sop_dir, BODY)
    sop = load_catalog(sop_dir.root).get("ATO-X")
    assert "{{" in sop.source_body and "{{" not in sop.body
    assert "Back within 14 days: escalate." in sop.body
    assert "customer told 2 business days (queue takes 1 business day)" in sop.body
    assert "Required fields: `case_id`, `account_id`, `priority`, `reason_for_escalation`." in sop.body
    assert "14 days" in sop.text_for("T1") and "14 days" in sop.readable_text


def test_the_site_page_and_search_show_the_value_not_the_marker(sop_dir):
    write_corpus(sop_dir, BODY)
    sop = load_catalog(sop_dir.root).get("ATO-X")
    page = sop_page(sop, PageContext("T1", datetime(2026, 12, 2, tzinfo=UTC), diagrams=False))
    assert "{{" not in page and "Back within 14 days" in page
    bodies = " ".join(d.body for d in sop_documents(sop, "T1"))
    assert "{{" not in bodies and "14 days" in bodies


def test_escalation_page_shows_what_the_customer_is_told(sop_dir):
    write_corpus(sop_dir, BODY)
    path = load_catalog(sop_dir.root).get("ESC-T2")
    page = sop_page(path, PageContext("T1", datetime(2026, 12, 2, tzinfo=UTC), diagrams=False))
    assert "Customer told" in page and "within 2 business days" in page


def test_a_clean_corpus_with_markers_validates(sop_dir):
    write_corpus(sop_dir, BODY)
    report, lines = problems(sop_dir)
    assert report.problems == [], lines


# --- kb validate: unknown markers, bad steps, bad facts file ------------------------------------


def test_unknown_fact_is_an_error_with_its_line(sop_dir):
    path = write_corpus(sop_dir, "## A {#a}\n\nText.\n\nWait {{ fact:no-such-fact }} please.\n")
    report, _ = problems(sop_dir)
    [error] = report.errors
    assert "unknown fact `no-such-fact`" in error.message and error.path == str(path)
    assert path.read_text().splitlines()[error.line - 1] == "Wait {{ fact:no-such-fact }} please."


@pytest.mark.parametrize(
    "marker, words",
    [
        ("{{ sla:ESC-T2/nope }}", "names no escalation step"),
        ("{{ sla:ESC-T2 }}", "must name a step as ESC-ID/step-id"),
        ("{{ colour:blue }}", "unknown marker kind `colour`"),
    ],
)
def test_unknown_step_or_kind_is_an_error(sop_dir, marker, words):
    write_corpus(sop_dir, f"## A {{#a}}\n\nWithin {marker}.\n")
    report, lines = problems(sop_dir)
    assert len(report.errors) == 1 and words in report.errors[0].message, lines


def test_told_marker_needs_a_customer_promise_on_the_step(sop_dir):
    steps = [dict(STEPS[0], customer_told=None), STEPS[1]]
    steps[0] = {k: v for k, v in steps[0].items() if v is not None}
    write_corpus(sop_dir, "## A {#a}\n\nWithin {{ told:ESC-T2/priority }}.\n", steps=steps)
    report, _ = problems(sop_dir)
    assert any("has no `customer_told`" in p.message for p in report.errors)


def test_a_promise_shorter_than_the_queue_sla_is_an_error(sop_dir):
    write_corpus(sop_dir, "## A {#a}\n\nText.\n", steps=[dict(STEPS[1], customer_told="4h")])
    report, _ = problems(sop_dir)
    [error] = report.errors
    assert "customer_told 4h is shorter than the step's SLA 1d" in error.message
    assert error.path.endswith("esc-t2.md")


def test_step_ids_are_unique(sop_dir):
    write_corpus(sop_dir, "## A {#a}\n\nText.\n", steps=[STEPS[0], dict(STEPS[1], id="priority")])
    report, _ = problems(sop_dir)
    assert any("step id `priority` is used twice" in p.message for p in report.errors)


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("facts:\n  Bad Name: 1 day\n", 2, "must be lower case words"),
        ("facts:\n  a: 1 day\n  a: 2 days\n", 3, "defined twice"),
        ("facts:\n  a:\n    value: [1, 2]\n", 2, "needs a one-line `value`"),
        ("facts:\n  a: {value: x, colour: red}\n", 2, "unknown field(s) colour"),
        ("other: 1\n", 1, "unknown field `other`"),
        ("facts: [\n", 2, "malformed YAML"),
    ],
)
def test_facts_file_problems_have_lines(text, line, words):
    _, found = parse_facts(text, "sop/facts.yml")
    assert found and found[0].line == line and words in found[0].message, found


def test_facts_file_problems_reach_kb_validate(sop_dir):
    write_corpus(sop_dir, "## A {#a}\n\nText.\n", facts="facts:\n  Bad Name: 1 day\n")
    report, lines = problems(sop_dir)
    assert any(p.path.endswith("facts.yml") and p.line == 2 for p in report.errors), lines


# --- kb validate: times next to escalation links ------------------------------------------------


def test_a_time_written_next_to_an_escalation_link_is_a_warning(sop_dir):
    path = write_corpus(
        sop_dir, "## A {#a}\n\n- Escalate to [Tier 2](../escalations/esc-t2.md#when-to-escalate), SLA 4h.\n"
    )
    report, lines = problems(sop_dir)
    assert report.ok and len(report.warnings) == 1, lines
    warning = report.warnings[0]
    assert warning.path == str(path) and "'4h' is written out next to a link to ESC-T2" in warning.message
    assert "matches none" not in warning.message
    assert path.read_text().splitlines()[warning.line - 1].endswith("SLA 4h.")


def test_a_time_that_contradicts_the_queue_says_so(sop_dir):
    write_corpus(
        sop_dir,
        "## A {#a}\n\nEscalate to [Tier 2](../escalations/esc-t2.md#when-to-escalate)\n"
        "and tell the customer 5 business days.\n",
    )
    report, _ = problems(sop_dir)
    [warning] = report.warnings
    assert "'5 business days'" in warning.message and "matches none of ESC-T2's times" in warning.message
    catalog = load_catalog(sop_dir.root)
    assert [t.text for t in find_time_contradictions(catalog)] == ["5 business days"]


def test_times_away_from_escalation_links_or_in_markers_are_fine(sop_dir):
    write_corpus(
        sop_dir,
        "## A {#a}\n\nThe lock lasts 24 hours.\n\n"
        "- [Tier 2](../escalations/esc-t2.md#when-to-escalate) within {{ sla:ESC-T2/priority }}.\n\n"
        "```text\nCustomer told 9 days ([x](../escalations/esc-t2.md)).\n```\n",
    )
    report, lines = problems(sop_dir)
    assert report.problems == [], lines


# --- kb validate: required case fields of the receiving queue ----------------------------------


def test_a_field_list_missing_a_field_the_receiving_queue_requires_is_an_error(sop_dir):
    path = write_corpus(
        sop_dir,
        "## What to escalate {#what-to-escalate}\n\n"
        "- [Tier 2](../escalations/esc-t2.md#when-to-escalate) for P1 and P2.\n\n"
        "Required fields: `case_id`, `account_id`, `priority`, `verification_signals`.\n",
    )
    report, lines = problems(sop_dir)
    messages = sorted(e.message for e in report.errors)
    # Both queues of the path match the list (it is written for Tier 2), and each names what it misses.
    assert len(messages) == 2, lines
    assert "omit `compromise_window`, which ESC-T2/priority" in messages[0]
    assert "omit `reason_for_escalation`, which ESC-T2/standard" in messages[1]
    for error in report.errors:
        assert path.read_text().splitlines()[error.line - 1].startswith("Required fields:")


def test_a_field_list_from_a_marker_or_complete_by_hand_passes(sop_dir):
    write_corpus(
        sop_dir,
        "## What to escalate {#what-to-escalate}\n\n"
        "- [Tier 2](../escalations/esc-t2.md#when-to-escalate).\n\n"
        "Required fields: {{ fields:ESC-T2/priority }}, `reason_for_escalation`.\n",
    )
    report, lines = problems(sop_dir)
    assert report.problems == [], lines


def test_a_list_written_for_another_queue_is_not_held_to_this_one(sop_dir):
    write_corpus(
        sop_dir,
        "## What to escalate {#what-to-escalate}\n\n"
        "- [Tier 2](../escalations/esc-t2.md#when-to-escalate).\n\n"
        "Required fields: `case_id`, `phishing_url_defanged`, `report_id`.\n",
    )
    report, lines = problems(sop_dir)
    assert report.problems == [], lines


# --- a changed fact re-asks every SOP that shows it ------------------------------------------------


def test_a_changed_fact_needs_a_version_bump_of_every_sop_that_shows_it(git_sop_dir):
    write_corpus(git_sop_dir, "## A {#a}\n\nBack within {{ fact:re-compromise-window }}.\n")
    git_sop_dir.write("ATO-Y", body="## B {#b}\n\nNo facts here.\n")
    repo = git_sop_dir.root.parent
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    assert validate(git_sop_dir.root, against="HEAD", today=TODAY).ok
    (git_sop_dir.root / "facts.yml").write_text(FACTS.replace("14 days", "21 days"), encoding="utf-8")
    report = validate(git_sop_dir.root, against="HEAD", today=TODAY)
    assert [(p.path.rsplit("/", 1)[-1], "version is still 1.0" in p.message) for p in report.errors] == [
        ("ato-x.md", True)
    ]


def test_replacing_text_with_a_marker_of_the_same_value_needs_no_bump(git_sop_dir):
    write_corpus(git_sop_dir, "## A {#a}\n\nBack within 14 days.\n")
    repo = git_sop_dir.root.parent
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    write_corpus(git_sop_dir, "## A {#a}\n\nBack within {{ fact:re-compromise-window }}.\n")
    assert validate(git_sop_dir.root, against="HEAD", today=TODAY).ok


# --- the real corpus -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus():
    return load_catalog(CORPUS)


def test_no_sop_contradicts_the_times_of_the_queue_it_escalates_to(corpus):
    assert [f"{t.sop.path}:{t.line}: '{t.text}' vs {t.path.id}" for t in find_time_contradictions(corpus)] == []


def test_the_corpus_states_no_escalation_time_in_prose_and_every_marker_resolves(corpus):
    report = validate_catalog(corpus, against=None, today=TODAY)
    assert [str(p) for p in report.problems if "written out next to a link" in p.message or "marker" in p.message] == []
    assert report.ok, [str(p) for p in report.errors]
    assert all("{{" not in sop.body for sop in corpus)


def test_every_customer_promise_covers_its_queue(corpus):
    for sop in corpus:
        for step in sop.steps:
            if step.customer_told:
                assert parse_duration(step.customer_told) >= parse_duration(step.sla), (sop.id, step.id)


def test_the_escalation_contradictions_of_the_review_are_gone(corpus):
    ato = corpus.get("ATO-RECOVERY")
    assert "review takes up to 2 business days" not in ato.body
    assert "customer told 4 hours" in ato.body and "customer told 2 business days" in ato.body
    assert "within 2 business days" not in corpus.get("ESC-POLICY").body
    guardian = [s for s in corpus.get("ESC-TIER2-REVIEW").steps if "guardian" in s.trigger]
    assert [s.id for s in guardian] == ["priority"]

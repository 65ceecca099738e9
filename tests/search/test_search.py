"""SOP search: ranking, synonyms, typos, phrases, filters, forgiving syntax, snippets, bulletins."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb_app.search import SearchService, build_index, load_synonyms, parse_query
from kb_app.search.documents import page_path, plain_text
from kb_app.search.synonyms import parse_synonyms
from fixtures.search import keys, sop_ids


# -- ranking basics -----------------------------------------------------------------------------


def test_heading_match_ranks_its_section_first(service):
    assert keys(service.search("cooling off"))[0] == "TWO-STEP-RESET#cooling-off"


def test_stemming_matches_other_word_forms(service):
    assert keys(service.search("verifying ownerships"))[0] == "ATO-RECOVERY#verify-ownership"


def test_title_match_outranks_a_passing_mention(service):
    results = service.search("phishing")
    assert sop_ids(results)[0] == "PHISHING-TRIAGE"


def test_related_link_lists_rank_below_the_sops_they_name(service):
    results = service.search("sim swap port-out")
    assert sop_ids(results)[0] == "SIM-SWAP"
    assert keys(results).index("ATO-RECOVERY#related") > keys(results).index("SIM-SWAP#signals")


def test_retired_sop_is_findable_but_ranks_below_the_active_one(service):
    results = service.search("text message code")
    ids = sop_ids(results)
    assert ids.index("SMS-CODE-DELIVERY") < ids.index("SMS-OTP-FALLBACK")
    retired = next(hit for hit in results.hits if hit.sop_id == "SMS-OTP-FALLBACK")
    assert retired.retired and retired.status == "retired"
    assert sop_ids(service.search("fallback"))[0] == "SMS-OTP-FALLBACK"


def test_drafts_are_not_indexed(service):
    results = service.search("pangolin")
    assert results.total == 0 and results.hits == []
    assert service.search("id:PANGOLIN-DRAFT").total == 0


def test_result_carries_what_the_page_shows(service):
    hit = service.search("verify ownership").hits[0]
    assert (hit.sop_id, hit.title, hit.section, hit.anchor) == (
        "ATO-RECOVERY",
        "Hacked account recovery",
        "Verify ownership",
        "verify-ownership",
    )
    assert (hit.kind, hit.status, hit.version) == ("sop", "active", "1.0")
    assert hit.url == "/sop/procedures/ato-recovery/#verify-ownership"
    assert hit.score > 0


def test_text_before_the_first_heading_links_to_the_page_top(service):
    hit = next(h for h in service.search("parent procedure").hits if h.sop_id == "ATO-RECOVERY")
    assert hit.anchor == "" and hit.url == "/sop/procedures/ato-recovery/"
    assert hit.section == "Hacked account recovery"


def test_url_prefix_is_configurable(index_dir):
    service = SearchService(index_dir, url_prefix="/t2/sop/")
    assert service.search("cooling off").hits[0].url == "/t2/sop/procedures/two-step-reset/#cooling-off"


def test_page_paths_follow_directory_urls():
    assert page_path("procedures/ato-recovery.md") == "procedures/ato-recovery/"
    assert page_path("index.md") == ""
    assert page_path("bulletins/index.md") == "bulletins/"


def test_total_and_facets_count_every_match_not_just_the_page(service):
    results = service.search("account", limit=2)
    assert len(results.hits) == 2
    assert results.total > 2
    assert sum(results.facets["kind"].values()) == results.total
    assert results.facets["tag"]["ato"] >= 1
    assert results.total_sops <= results.total


def test_offset_pages_through_results(service):
    first = keys(service.search("account", limit=3))
    second = keys(service.search("account", limit=3, offset=3))
    everything = keys(service.search("account", limit=6))
    assert first + second == everything


# -- synonyms and acronyms ----------------------------------------------------------------------


def test_acronym_finds_the_spelled_out_procedure(service):
    assert sop_ids(service.search("mfa reset"))[0] == "TWO-STEP-RESET"
    assert sop_ids(service.search("2fa"))[0] == "TWO-STEP-RESET"


def test_customer_words_find_the_procedure_words(service):
    assert sop_ids(service.search("number ported"))[0] == "SIM-SWAP"
    assert sop_ids(service.search("fake login page"))[0] == "PHISHING-TRIAGE"
    assert "ATO-RECOVERY" in sop_ids(service.search("account takeover"))[:3]


def test_literal_word_outranks_its_synonym(sop_dir, tmp_path):
    sop_dir.write("NOTE-A", body="## Note {#note}\n\nThe customer account was compromised yesterday.\n", title="Note A")
    sop_dir.write("NOTE-B", body="## Note {#note}\n\nThe customer account was hijacked yesterday.\n", title="Note B")
    build_index(sop_dir.root, tmp_path / "index")
    service = SearchService(tmp_path / "index")
    assert sop_ids(service.search("compromised")) == ["NOTE-A", "NOTE-B"]
    assert sop_ids(service.search("hijacked")) == ["NOTE-B", "NOTE-A"]
    literal, synonym = service.search("compromised").hits
    assert literal.score > 1.5 * synonym.score


def test_synonym_table_ships_enough_groups_and_every_term_is_searchable():
    table = load_synonyms()
    assert len(table) >= 20
    for group in table.groups:
        assert len(group.phrases) >= 2, group.name
    assert ("mfa",) in table and ("sim", "swap") in table


def test_synonym_table_rejects_malformed_data():
    with pytest.raises(ValueError, match="groups"):
        parse_synonyms({"nope": 1})
    with pytest.raises(ValueError, match="at least two"):
        parse_synonyms({"groups": [{"terms": ["alone"]}]})
    with pytest.raises(ValueError, match="stop words"):
        parse_synonyms({"groups": [{"name": "x", "terms": ["the", "ato"]}]})


def test_one_way_group_expands_only_from_its_first_term():
    table = parse_synonyms({"groups": [{"terms": ["tm", "threat management"], "one_way": True}]})
    assert table.alternatives(("tm",)) == (("threat", "manag"),)
    assert ("threat", "manag") not in table


# -- typos and partial words --------------------------------------------------------------------


def test_typos_still_find_the_section(service):
    assert keys(service.search("verfy ownrship"))[0] == "ATO-RECOVERY#verify-ownership"
    assert sop_ids(service.search("authenticatr"))[0] == "TWO-STEP-RESET"
    assert sop_ids(service.search("phisihng"))[0] == "PHISHING-TRIAGE"


def test_typo_gets_a_did_you_mean_from_the_index(service):
    results = service.search("cooling-of perid")
    assert results.suggestions == ["cooling-of period"] or results.suggestions == ["cooling-off period"]
    assert service.search("cooling off").suggestions == []


def test_known_words_are_not_fuzzed(service):
    # "session" is in the index, so sections that only say "version" or "mission" must not match.
    for hit in service.search("session").hits:
        assert "session" in hit.snippet.lower()


def test_partial_words_complete(service):
    assert sop_ids(service.search("authentic"))[0] == "TWO-STEP-RESET"
    assert sop_ids(service.search("phish*"))[0] == "PHISHING-TRIAGE"


# -- phrases and filters ------------------------------------------------------------------------


def test_quoted_phrase_needs_the_words_together(service):
    results = service.search('"anchor email"')
    assert results.total == 2  # the two sections of EMAIL-CHANGE-REVERSAL that say it
    assert set(sop_ids(results)) == {"EMAIL-CHANGE-REVERSAL"}
    assert "<mark>anchor email</mark>" in results.hits[0].snippet


def test_field_filters_narrow_results(service):
    assert set(sop_ids(service.search("customer tag:email"))) == {"EMAIL-CHANGE-REVERSAL"}
    assert set(sop_ids(service.search("kind:escalation threats"))) == {"ESC-THREAT-MGMT"}
    assert set(sop_ids(service.search("id:SIM-SWAP phone"))) == {"SIM-SWAP"}
    assert set(sop_ids(service.search("status:retired code"))) == {"SMS-OTP-FALLBACK"}
    assert set(sop_ids(service.search("id:BUL-* kind:bulletin", limit=50))) == {
        "BUL-2026-11-WAVE",
        "BUL-2025-01-OUTAGE",
    }


def test_filter_values_of_one_field_widen_and_fields_narrow(service):
    both = set(sop_ids(service.search("kind:escalation kind:bulletin", limit=50)))
    assert both == {"ESC-THREAT-MGMT", "BUL-2026-11-WAVE", "BUL-2025-01-OUTAGE"}
    assert service.search("kind:escalation tag:phishing").total == 0


def test_filters_passed_by_the_caller_act_like_typed_ones(service):
    results = service.search("customer", filters={"kind": "sop", "tag": ["email"]})
    assert set(sop_ids(results)) == {"EMAIL-CHANGE-REVERSAL"}
    assert results.filters == {"kind": ["sop"], "tag": ["email"]}
    with pytest.raises(ValueError):
        service.search("account", filters={"owner": "x"})


def test_filter_only_query_lists_the_matching_sections(service):
    results = service.search("kind:escalation")
    assert results.total == 2 and set(sop_ids(results)) == {"ESC-THREAT-MGMT"}


def test_escalation_steps_are_searchable(service):
    # The factory's steps (front matter) say "Case queue ATO-Threat".
    assert keys(service.search("case queue"))[0] == "ESC-THREAT-MGMT#steps"


# -- syntax that must never fail ----------------------------------------------------------------

BROKEN = [
    "",
    " ",
    '"',
    '"unbalanced quote',
    'two "quotes" "',
    "AND",
    "OR NOT",
    "*",
    "?",
    "(",
    ")",
    "((2fa",
    "the of and",
    "tag:",
    "id:",
    'kind:"',
    "foo:bar",
    ":",
    "::::",
    "\x00\x01\x1b[31m",
    "a" * 5000,
    "hacked " * 400,
    "\u202e\u200b",
    "\ud800",
    "😀 2fa 😀",
    "email\ttab\nnewline",
    'id:"ATO',
    "-",
    "+reset -sim",
    "tier:T9",
    "tier:",
    "https://example.com/login?x=1&y=2",
    "<script>alert(1)</script>",
    "%s %d {0}",
]


@pytest.mark.parametrize("query", BROKEN)
def test_broken_syntax_still_answers(service, query):
    results = service.search(query)
    assert results.total >= len(results.hits)
    json.dumps(dataclasses.asdict(results), default=str)


@settings(deadline=None)
@given(st.text(max_size=300))
def test_any_text_never_raises(service, query):
    results = service.search(query, tier="T1")
    assert results.total >= len(results.hits)


@settings(deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                '"',
                "*",
                "(",
                ")",
                "AND",
                "tag:",
                "id:",
                "kind:sop",
                "2fa",
                "hacked",
                "sim",
                "swap",
                "-",
                ":",
                " ",
                "verfy",
                "\x00",
            ]
        ),
        max_size=20,
    )
)
def test_any_mix_of_syntax_fragments_never_raises(service, fragments):
    service.search("".join(fragments), tier="T2")


def test_unknown_tier_is_a_caller_error(service):
    with pytest.raises(ValueError):
        service.search("hacked", tier="T3")


def test_parse_query_reads_phrases_prefixes_and_filters():
    parsed = parse_query('sim swap "port freeze" verif* tag:Phone tier:t2 id:esc-* junk:x AND')
    assert [(c.kind, c.text) for c in parsed.chunks] == [
        ("words", "sim swap"),
        ("phrase", "port freeze"),
        ("prefix", "verif"),
        ("words", "junk x"),
    ]
    assert parsed.filters == {"tag": {"phone"}, "tier": {"T2"}, "id": {"ESC-*"}}


# -- snippets and escaping ----------------------------------------------------------------------


def test_snippet_marks_matches_and_escapes_everything_else(service):
    hit = service.search("pastes script alert").hits[0]
    assert hit.sop_id == "CHAT-HYGIENE"
    assert "<script" not in hit.snippet
    assert "&lt;<mark>script</mark>&gt;" in hit.snippet
    assert "a &amp; b" in hit.snippet
    without_marks = hit.snippet.replace("<mark>", "").replace("</mark>", "")
    assert "<" not in without_marks and ">" not in without_marks


def test_markup_in_the_query_is_not_echoed_into_snippets(service):
    for hit in service.search("<mark>x</mark> <img src=x onerror=alert(1)> customer").hits:
        assert "<img" not in hit.snippet and "onerror" not in hit.snippet.replace("onerror", "") + ""


def test_snippet_marks_synonym_matches(service):
    hit = service.search("2fa").hits[0]
    assert "<mark>two-step</mark> verification" in hit.snippet.lower()


def test_plain_text_drops_markdown_but_keeps_words():
    text = plain_text(
        '!!! warning "Check first"\n    Read **this** [link](a.md#b) and `code`.\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n=== "Phone"\n'
    )
    assert "Check first" in text and "Read this link and code." in text and "a b." in text and "Phone" in text
    assert "a.md" not in text and "**" not in text and "---" not in text


# -- bulletins ----------------------------------------------------------------------------------


def test_open_bulletin_is_pinned_on_every_search(service):
    for query in ("cooling off", "", "kind:escalation"):
        pinned = service.search(query).pinned
        assert [p.sop_id for p in pinned] == ["BUL-2026-11-WAVE"]
        assert pinned[0].matched is False and pinned[0].url == "/sop/bulletins/bul-2026-11-wave/"


def test_pinned_bulletin_points_at_the_matching_section(service):
    pinned = service.search("credential stuffing").pinned[0]
    assert pinned.matched and pinned.url == "/sop/bulletins/bul-2026-11-wave/#summary"


def test_expired_bulletin_is_not_pinned_but_still_searchable(service):
    results = service.search("recovery console outage")
    assert "BUL-2025-01-OUTAGE" not in [p.sop_id for p in results.pinned]
    assert sop_ids(results)[0] == "BUL-2025-01-OUTAGE"


def test_bulletin_stops_being_pinned_when_it_expires(service):
    later = datetime(2026, 12, 21, tzinfo=timezone.utc)
    assert service.search("wave", now=later).pinned == []


def test_an_answer_is_kept_until_a_bulletin_expires_not_for_a_window_of_the_clock(service, monkeypatch):
    service = SearchService(service.index_dir)  # nothing kept from the other tests
    computed = []
    search = service._search
    monkeypatch.setattr(service, "_search", lambda *args, **kw: computed.append(args[1].text) or search(*args, **kw))
    expires = datetime(2026, 12, 20, tzinfo=timezone.utc)  # BUL-2026-11-WAVE's expiry
    early = service.search("wave", now=expires - timedelta(days=3))
    late = service.search("wave", now=expires - timedelta(seconds=1))
    assert computed == ["wave"]  # three days apart, the same answer: computed once
    assert [p.sop_id for p in late.pinned] == [p.sop_id for p in early.pinned] == ["BUL-2026-11-WAVE"]
    after = service.search("wave", now=expires)
    assert computed == ["wave", "wave"] and after.pinned == []
    # What a caller does to an answer does not change the kept one.
    late.hits.clear()
    assert service.search("wave", now=expires - timedelta(hours=1)).hits and len(computed) == 2


# -- the index itself ---------------------------------------------------------------------------


def test_build_report_counts_tiers_and_skips_drafts(search_corpus, tmp_path):
    report = build_index(search_corpus.root, tmp_path / "index")
    assert report.drafts_skipped == 1
    assert report.tiers["T2"].sops == report.tiers["T1"].sops + 1
    assert report.tiers["T2"].sections > report.tiers["T1"].sections
    manifest = SearchService(tmp_path / "index").info()
    assert manifest["build_id"] == report.build_id and manifest["tiers"]["T1"]["sops"] == report.tiers["T1"].sops


def test_every_whoosh_module_search_loads_compiles_without_warnings():
    """whoosh-reloaded, not the original Whoosh, whose invalid escape sequences warn on 3.12."""
    import sys
    import warnings
    from pathlib import Path

    import kb_app.search  # noqa: F401 - loads what a search needs
    from kb_app.search import SearchService  # noqa: F401

    loaded = [m for name, m in sys.modules.items() if name.startswith("whoosh") and getattr(m, "__file__", None)]
    assert loaded and "whoosh.support.pyparsing" not in sys.modules
    for module in loaded:
        source = Path(module.__file__)
        if source.suffix != ".py":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(source.read_text(encoding="utf-8"), str(source), "exec")


def test_search_modules_import_no_web_or_cli_framework():
    import subprocess
    import sys

    code = "import sys, kb_app.search; print(sorted(m for m in ('flask', 'click') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-W", "error::SyntaxWarning", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_block_scoring_matches_whooshs_own_bm25f(service):
    from kb_app.search.analysis import stem
    from kb_app.search.tier_index import _walk

    index = service.current().tier("T2")
    searcher = index.searcher()
    for field, word in (("body", "customer"), ("heading", "verify"), ("title", "reset"), ("tags", "sms")):
        text = stem(word)
        fast = index._term_postings(searcher, field, text, text.encode())
        slow = _walk(searcher.postings(field, text.encode()))
        assert fast[0] == slow[0] and fast[0]
        assert all(abs(a - b) < 1e-9 for a, b in zip(fast[1], slow[1]))


@settings(deadline=None)
@given(st.data())
def test_typo_neighbours_match_a_brute_force_scan(service, data):
    from kb_app.search.query import fuzzy_distance
    from kb_app.search.tier_index import edit_distance

    index = service.current().tier("T2")
    word = data.draw(st.sampled_from([w for w in index.sorted_words if len(w) >= 4]))
    for _ in range(data.draw(st.integers(0, 2))):
        position = data.draw(st.integers(1, len(word) - 1))
        edit = data.draw(st.sampled_from(["delete", "insert", "replace", "swap"]))
        letter = data.draw(st.sampled_from("aeioustrn"))
        if edit == "delete" and len(word) > 4:
            word = word[:position] + word[position + 1 :]
        elif edit == "insert":
            word = word[:position] + letter + word[position:]
        elif edit == "replace":
            word = word[:position] + letter + word[position + 1 :]
        elif position + 1 < len(word):
            word = word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    maxdist = fuzzy_distance(word)
    expected = {
        (known, d)
        for known in index.sorted_words
        if known[0] == word[0] and 0 < (d := edit_distance(word, known, maxdist)) <= maxdist
    }
    assert set(index.neighbours(word, maxdist, 10_000)) == expected


def test_warm_opens_every_tier_ahead_of_the_first_search(index_dir):
    service = SearchService(index_dir)
    service.warm()
    build = service.current()
    assert set(build._tiers) == {"T1", "T2"}
    assert service.search("verfy ownrship", tier="T2").hits[0].anchor == "verify-ownership"

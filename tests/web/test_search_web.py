"""The search page, the search API, result links and search analytics, with hostile readers.

The index is built from the search test corpus (tests/fixtures/search.py: a t2_only SOP,
Tier 2 blocks, a retired SOP, bulletins, a section quoting <script>) plus a bulletin open until
2099 and enough "lighthouse" sections for two pages of results.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from fixtures.sops import SopDir
from kb_app.cli.setup import STEPS
from kb_app.db import session_scope
from kb_app.models import SearchClick, SearchQuery
from kb_app.search import build_index
from fixtures.search import T2_SECRETS, write_corpus

PROBES = [
    "quokka ledger",
    '"employee collusion"',
    "collusion",
    "marmalade",
    "T2-INSIDER-RISK",
    "t2 insider risk",
    "id:T2-INSIDER-RISK",
    "id:T2-*",
    "tier:T2",
    "tier:T2 quokka",
    "tier:2 collusion",
    "tag:insider-risk",
    "tag:tier2",
    "quok*",
    "collu*",
    "quoka",
    "colusion",
    "marmalde",
    "zebralineage",
    "zebralin*",
    "gondoleir",
    "insider risk",
    "status:active marmalade",
    "*",
    "quokka OR collusion AND tier:T2",
    '"trace the gondolier sessions back"',
    "verify ownership",
    "account",
]
LIGHTHOUSES = 12


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("search-web")
    sop_dir = SopDir(root / "sop")
    write_corpus(sop_dir)
    sop_dir.write(
        "BUL-2099-PINNED",
        kind="bulletin",
        title="Callback scam wave",
        tags=["bulletin"],
        expires="2099-12-01T00:00:00Z",
        body="## What is happening {#summary}\n\nCallers pretend to be our support line and ask for codes.\n",
    )
    for n in range(LIGHTHOUSES):
        sop_dir.write(
            f"LIGHT-{n:02d}",
            title=f"Lighthouse procedure {n}",
            tags=["lighthouse"],
            body=f"## Lighthouse step {n} {{#step}}\n\nThe lighthouse keeper checks lamp {n}.\n",
        )
    build_index(sop_dir.root, root / "index")
    return root / "index"


@pytest.fixture
def settings(settings, index_dir):
    return settings.replace(index_dir=index_dir)


def page_of(client, **params):
    response = client.get("/search", query_string=params)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def api(client, expect=200, **params):
    response = client.get("/api/v1/search", query_string=params)
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.get_json()


def logged(engine) -> list[SearchQuery]:
    with session_scope(engine) as session:
        return list(session.scalars(select(SearchQuery).order_by(SearchQuery.id)))


def clicks(engine) -> list[SearchClick]:
    with session_scope(engine) as session:
        return list(session.scalars(select(SearchClick).order_by(SearchClick.id)))


def result_links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'class="result__link" href="([^"]+)"', html)]


def target_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["to"][0]


# --- the page ------------------------------------------------------------------------------------


def test_search_page_without_javascript_shows_results_with_sections_snippets_and_chips(client, auth):
    auth.login_as("agent")
    html = page_of(client, q="2fa reset")
    assert 'role="search"' in html and 'method="get"' in html and 'name="q" value="2fa reset"' in html
    first = html.index("TWO-STEP-RESET")
    assert "Two-step verification reset" in html[first:]
    assert '<span class="tag">v1.0</span>' in html and "result__kind--sop" in html
    assert "<mark>" in html
    links = result_links(html)
    assert links and all(link.startswith("/search/open?") for link in links)
    assert target_of(links[0]).startswith("/sop/procedures/two-step-reset/#")
    assert re.search(r"\d+ SOPs?<", html)


def test_first_visit_shows_tips_and_records_nothing(client, auth, engine):
    auth.login_as("agent")
    html = page_of(client)
    assert "Search tips" in html and 'id="search-results"' in html
    assert logged(engine) == []


def test_section_link_goes_to_the_heading_anchor(client, auth):
    auth.login_as("agent")
    html = page_of(client, q="cooling-off period")
    assert target_of(result_links(html)[0]) == "/sop/procedures/two-step-reset/#cooling-off"
    assert '<div class="result__section">Cooling-off period</div>' in html


def test_sop_text_quoting_a_script_comes_back_escaped(client, auth):
    auth.login_as("agent")
    html = page_of(client, q="pasted markup script alert")
    assert "CHAT-HYGIENE" in html
    assert "&lt;<mark>script</mark>&gt;" in html or "&lt;script&gt;" in html
    assert "<script>alert" not in html and "<script>" not in html.split("</head>", 1)[1]
    snippet = api(client, q="pasted markup script alert")["results"][0]["snippet"]
    assert "<script" not in snippet and "&lt;" in snippet
    assert set(re.findall(r"</?([a-z]+)", snippet)) <= {"mark"}


def test_query_markup_is_not_echoed_as_html(client, auth):
    auth.login_as("agent")
    html = page_of(client, q='<img src=x onerror=alert(1)> "><script>x</script>')
    assert "<img src=x" not in html and "<script>x" not in html


def test_retired_sop_is_marked(client, auth):
    auth.login_as("agent")
    html = page_of(client, q="text message code fallback")
    item = html[html.index("SMS-OTP-FALLBACK") - 300 :]
    assert "result--retired" in item[:400] and ">retired</span>" in item


def test_facets_count_by_kind_and_tag_and_narrow_as_links(client, auth):
    auth.login_as("agent")
    html = page_of(client, q="escalate threats")
    facet = re.search(
        r'<a href="([^"]+)"\s*><span>escalation</span> <span class="facet__count">(\d+)'
        r'<span class="visually-hidden"> SOPs</span></span>',
        html,
    )
    assert facet, "no kind facet link"
    narrowed = client.get(unescape(facet.group(1))).get_data(as_text=True)
    assert "Remove the filter kind: escalation" in narrowed
    assert all(target_of(link).startswith("/sop/escalations/") for link in result_links(narrowed))
    # The page counts SOPs: the facet says how many escalation paths matched, not their sections.
    grouped = api(client, q="escalate threats", kind="escalation", group="sop")
    assert int(facet.group(2)) == grouped["total_sops"] == len({g["sop_id"] for g in grouped["groups"]})


def test_filter_parameters_narrow_and_repeat(client, auth):
    auth.login_as("agent")
    data = api(client, q="recovery", tag=["sms", "authenticator"])
    assert data["results"] and {r["sop_id"] for r in data["results"]} <= {
        "SMS-OTP-FALLBACK",
        "SMS-CODE-DELIVERY",
        "TWO-STEP-RESET",
    }
    assert api(client, q="", kind="escalation")["total"] >= 1


def test_did_you_mean_links_the_corrected_query(client, auth):
    auth.login_as("agent")
    html = page_of(client, q="verfy ownershp")
    match = re.search(r'Did you mean <a href="([^"]+)">([^<]+)</a>', html)
    assert match and match.group(2) == "verify ownership"
    assert api(client, q="verfy ownershp")["suggestions"] == ["verify ownership"]


def test_open_bulletins_are_pinned_above_the_results(client, auth):
    auth.login_as("agent")
    html = page_of(client, q="hacked account")
    assert html.index("Callback scam wave") < html.index('id="search-results"')
    assert any(p["sop_id"] == "BUL-2099-PINNED" for p in api(client, q="hacked")["pinned"])


def test_pages_of_results(client, auth):
    auth.login_as("agent")
    first = page_of(client, q="lighthouse keeper")
    assert f"{LIGHTHOUSES} SOPs<" in first  # one result per SOP, counted as SOPs
    assert "Page 1 of 2" in first
    next_link = unescape(re.search(r'rel="next" href="([^"]+)"', first).group(1))
    second = client.get(next_link).get_data(as_text=True)
    assert "Page 2 of 2" in second and 'start="11"' in second
    assert set(result_links(first)).isdisjoint(result_links(second))
    assert len(result_links(first)) + len(result_links(second)) == LIGHTHOUSES


def test_zero_results_suggest_and_record_a_content_gap(client, auth, engine):
    auth.login_as("agent")
    html = page_of(client, q="xylophone tuning")
    assert "Nothing matched" in html and "training team" in html and "No results" in html
    [row] = logged(engine)
    assert (row.query, row.result_count) == ("xylophone tuning", 0)


def test_missing_index_is_a_clear_page_not_a_500(make_app, settings, make_auth, tmp_path):
    app = make_app(settings.replace(index_dir=tmp_path / "no-index"))
    client = app.test_client()
    make_auth(client).login_as("agent")
    response = client.get("/search?q=hacked")
    assert response.status_code == 503
    assert "Search index not built" in response.get_data(as_text=True) and "kb index" in response.get_data(as_text=True)
    response = client.get("/api/v1/search?q=hacked")
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "index_not_built"


def test_search_needs_a_sign_in(client):
    assert client.get("/search?q=hacked").status_code == 302
    assert client.get("/api/v1/search?q=hacked").status_code == 401
    assert client.get("/search/open?to=/sop/").status_code == 302


@pytest.mark.parametrize("role", ["agent", "partner_manager", "trainer", "admin"])
def test_every_role_searches_its_own_audience(client, auth, role):
    auth.login_as(role)
    expected = "T1" if role in ("agent", "partner_manager") else "T2"
    assert api(client, q="ledger", audience="T2" if expected == "T1" else "T1")["tier"] == expected
    assert "Tier 1 site" in page_of(client, q="x") if expected == "T1" else "Tier 2 site" in page_of(client, q="x")


def test_top_bar_search_box_and_nav_links(client, auth):
    auth.login_as("agent")
    home = client.get("/").get_data(as_text=True)
    assert 'class="kb-search"' in home and 'action="/search"' in home and ">Search<" in home
    assert "Search analytics" not in home
    assert 'class="kb-search"' not in page_of(client)  # the page has its own box


def test_trainers_see_the_analytics_link(client, auth):
    auth.login_as("trainer")
    assert "/search/analytics" in client.get("/").get_data(as_text=True)


# --- audience safety -----------------------------------------------------------------------------


def _assert_no_tier2(text: str, query: str) -> None:
    lowered = text.lower()
    for secret in T2_SECRETS:
        if secret.lower() not in query.lower():
            assert secret.lower() not in lowered, f"{secret!r} reached Tier 1 for {query!r}"


EXTRA_PARAMS = (
    {},
    {"audience": "T2"},
    {"tier": "T2"},
    {"id": "T2-INSIDER-RISK"},
    {"tag": "insider-risk"},
    {"audience": "T2", "tier": "T2", "kind": "sop"},
    {"group": "sop"},
    {"group": "sop", "audience": "T2", "tag": "insider-risk"},
)


@pytest.mark.parametrize("role", ["agent", "partner_manager"])
def test_tier1_page_never_shows_tier2_material(client, auth, role):
    auth.login_as(role)
    for query in PROBES:
        for extra in EXTRA_PARAMS:
            html = page_of(client, q=query, **extra)
            _assert_no_tier2(html, query + " " + " ".join(extra.values()))
            assert "/procedures/t2-insider-risk/" not in html


def test_tier1_api_never_returns_tier2_material(client, auth):
    auth.login_as("agent")
    for query in PROBES:
        for extra in EXTRA_PARAMS:
            data = api(client, q=query, limit=50, **extra)
            assert data["tier"] == "T1"
            assert all(r["sop_id"] != "T2-INSIDER-RISK" for r in data["results"])
            visible = {k: v for k, v in data.items() if k not in ("query", "filters")}
            _assert_no_tier2(json.dumps(visible), query + " " + " ".join(extra.values()))


def test_tier1_counts_match_a_search_for_nothing_tier2(client, auth):
    """A Tier 2 word in the query changes nothing a Tier 1 reader sees: same totals and facets."""
    auth.login_as("agent")
    with_secret = api(client, q="verify ownership zebralineage gondolier", limit=50)
    without = api(client, q="verify ownership", limit=50)
    assert with_secret["total"] <= without["total"]
    assert api(client, q="id:T2-INSIDER-RISK")["total"] == 0
    assert api(client, q="", id="T2-INSIDER-RISK")["total"] == 0


def test_tier1_token_cannot_search_tier2(client, make_user, make_token):
    agent = make_user("agent")
    secret = make_token(agent)
    data = client.get(
        "/api/v1/search?q=quokka+ledger&audience=T2", headers={"Authorization": f"Bearer {secret}"}
    ).get_json()
    assert data["tier"] == "T1" and data["total"] == 0


def test_tier2_reader_finds_tier2_material(client, auth):
    auth.login_as("agent", tier="T2", vendor="in-house")
    assert api(client, q="quokka ledger")["results"][0]["sop_id"] == "T2-INSIDER-RISK"
    assert "T2-INSIDER-RISK" in page_of(client, q="quokka ledger")


# --- the API -------------------------------------------------------------------------------------


def test_api_answers_results_total_facets_suggestions_and_pinned(client, auth):
    auth.login_as("agent")
    data = api(client, q="sim swap", limit=3)
    assert {"results", "total", "facets", "suggestions", "pinned", "tier", "search_token"} <= set(data)
    hit = data["results"][0]
    assert {
        "sop_id",
        "title",
        "section",
        "anchor",
        "url",
        "snippet",
        "score",
        "version",
        "kind",
        "status",
        "open_url",
    } <= set(hit)
    assert hit["sop_id"] == "SIM-SWAP" and hit["url"].startswith("/sop/procedures/sim-swap/")
    assert hit["open_url"].startswith("/search/open?") and target_of(hit["open_url"]) == hit["url"]
    assert len(data["results"]) <= 3 and data["total"] >= len(data["results"])
    assert set(data["facets"]) == {"kind", "tag"}


def test_api_offset_pages(client, auth):
    auth.login_as("agent")
    first, second = api(client, q="lighthouse", limit=5), api(client, q="lighthouse", limit=5, offset=5)
    assert {r["sop_id"] for r in first["results"]}.isdisjoint(r["sop_id"] for r in second["results"])
    assert first["total"] == second["total"] == LIGHTHOUSES


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "51"}, {"limit": "ten"}, {"offset": "-1"}, {"offset": "1001"}]
)
def test_api_refuses_bad_paging(client, auth, params):
    auth.login_as("agent")
    data = api(client, expect=400, q="hacked", **params)
    assert data["error"]["code"] == "bad_request"


def test_api_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/search"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"q", "limit", "offset", "kind", "tag", "id", "group"}
    schemas = document["components"]["schemas"]
    assert {"SearchResults", "SearchResult", "SearchGroup", "PinnedBulletin"} <= set(schemas)
    assert {"group", "groups"} <= set(schemas["SearchResults"]["properties"])
    assert "sections" in schemas["SearchGroup"]["properties"]
    assert "503" in operation["responses"]


def test_api_without_group_keeps_answering_one_result_per_section(client, auth):
    """Clients that read `results` (the SOP site's search box) see sections, as before."""
    auth.login_as("agent")
    data = api(client, q="lighthouse keeper", limit=10)
    assert data["group"] is None and data["groups"] is None
    assert len(data["results"]) == 10 and all(r["anchor"] == "step" for r in data["results"])
    assert data["facets"]["tag"]["lighthouse"] == LIGHTHOUSES  # sections


def test_api_grouped_answers_one_result_per_sop_with_its_sections(client, auth):
    auth.login_as("agent")
    data = api(client, q="hacked account recovery", limit=5, group="sop")
    assert data["group"] == "sop" and 1 <= len(data["groups"]) <= 5
    ids = [g["sop_id"] for g in data["groups"]]
    assert len(ids) == len(set(ids)) and data["total_sops"] >= len(ids)
    first = data["groups"][0]
    assert first["sop_id"] == "ATO-RECOVERY" and first["url"] == "/sop/procedures/ato-recovery/"
    assert 1 <= len(first["sections"]) <= 5 and first["matched_sections"] >= len(first["sections"])
    assert first["sections"][0]["snippet"] and all(s["snippet"] == "" for s in first["sections"][1:])
    for group in data["groups"]:
        for section in group["sections"]:
            assert section["sop_id"] == group["sop_id"] and section["url"].startswith(group["url"])
            assert target_of(section["open_url"]) == section["url"]
    # `results` lists the same sections in the same order, for clients that know only sections.
    flattened = [(s["sop_id"], s["anchor"]) for g in data["groups"] for s in g["sections"]]
    assert [(r["sop_id"], r["anchor"]) for r in data["results"]] == flattened
    # Facets and paging count SOPs.
    assert sum(data["facets"]["kind"].values()) == data["total_sops"]
    second = api(client, q="hacked account recovery", limit=5, offset=5, group="sop")
    assert set(ids).isdisjoint(g["sop_id"] for g in second["groups"])


def test_api_grouped_pages_and_counts_sops(client, auth):
    auth.login_as("agent")
    first = api(client, q="lighthouse keeper", limit=5, group="sop")
    second = api(client, q="lighthouse keeper", limit=5, offset=5, group="sop")
    assert first["total_sops"] == second["total_sops"] == LIGHTHOUSES
    assert first["facets"]["tag"]["lighthouse"] == LIGHTHOUSES
    assert {g["sop_id"] for g in first["groups"]}.isdisjoint(g["sop_id"] for g in second["groups"])


def test_api_refuses_an_unknown_grouping(client, auth):
    auth.login_as("agent")
    data = api(client, expect=400, q="hacked", group="section")
    assert data["error"]["code"] == "bad_request" and "group" in data["error"]["message"]


def test_a_click_on_a_grouped_section_records_the_sops_rank(client, auth, engine, fake_sites):
    auth.login_as("agent")
    data = api(client, q="hacked account recovery", group="sop")
    group = data["groups"][1]
    section = group["sections"][-1]
    page = group["url"].removeprefix("/sop/")
    (fake_sites / "T1" / page).mkdir(parents=True, exist_ok=True)
    (fake_sites / "T1" / page / "index.html").write_text("<h1>page</h1>", encoding="utf-8")
    response = client.get(section["open_url"])
    assert response.status_code == 302 and response.headers["Location"].endswith(section["url"])
    [click] = clicks(engine)
    assert (click.sop_id, click.rank, click.target) == (group["sop_id"], 2, section["url"])


def test_any_query_text_gets_an_answer(client, auth):
    auth.login_as("agent")
    for query in ['"', "(", "tag:", "*", "AND OR NOT", "id:", "kind:nope", "🔥 hacked", "é" * 300]:
        assert client.get("/search", query_string={"q": query}).status_code == 200
        assert client.get("/api/v1/search", query_string={"q": query}).status_code == 200
    # The API says what is wrong instead of cutting the query short or passing control characters on.
    for query in ["\x00\x01", "é" * 301]:
        assert client.get("/api/v1/search", query_string={"q": query}).status_code == 400


# --- what is recorded ----------------------------------------------------------------------------


def test_a_search_is_recorded_without_the_reader(client, auth, engine):
    auth.login_as("agent", vendor="apex-cx")
    page_of(client, q="Lost my PHONE, email jane@example.com")
    [row] = logged(engine)
    assert (row.query, row.tier, row.role, row.vendor) == ("lost my phone, email [email]", "T1", "agent", "apex-cx")
    assert row.result_count > 0 and not hasattr(row, "user_id")


def test_later_pages_are_not_recorded_again(client, auth, engine):
    auth.login_as("agent")
    first = page_of(client, q="lighthouse keeper")
    client.get(unescape(re.search(r'rel="next" href="([^"]+)"', first).group(1)))
    assert len(logged(engine)) == 1


def test_typing_refines_one_recorded_search(client, auth, engine):
    auth.login_as("agent")
    token = None
    for text in ("s", "si", "sim", "sim sw", "sim swap"):
        data = api(client, q=text, **({"refines": token} if token else {}))
        token = data["search_token"]
    page_of(client, q="sim swap", refines=token)  # then Enter: the page refines it too
    assert [(r.query, r.result_count > 0) for r in logged(engine)] == [("sim swap", True)]


def test_a_forged_or_foreign_token_refines_nothing(client, auth, engine):
    auth.login_as("agent")
    token = api(client, q="hacked")["search_token"]
    api(client, q="phishing", refines=token[:-2] + "xx")
    api(client, q="phishing", refines="1")
    assert [r.query for r in logged(engine)] == ["hacked", "phishing", "phishing"]


def test_recording_failure_never_breaks_search(client, auth, app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from kb_app import search_log

    auth.login_as("agent")

    def broken(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(search_log, "record_search", broken)
    assert api(client, q="sim swap")["results"][0]["sop_id"] == "SIM-SWAP"
    assert "SIM-SWAP" in page_of(client, q="sim swap")


# --- opening a result ----------------------------------------------------------------------------


def test_opening_a_result_records_the_click_and_goes_to_the_anchor(client, auth, engine):
    auth.login_as("agent")
    link = result_links(page_of(client, q="verify ownership"))[0]
    assert target_of(link) == "/sop/procedures/ato-recovery/#verify-ownership"
    response = client.get(link)
    assert (
        response.status_code == 302 and response.headers["Location"] == "/sop/procedures/ato-recovery/#verify-ownership"
    )
    [hit] = clicks(engine)
    assert (hit.sop_id, hit.rank, hit.search_id) == ("ATO-RECOVERY", 1, logged(engine)[0].id)


def test_a_click_from_page_two_counts_for_the_search(client, auth, engine, fake_sites):
    auth.login_as("agent")
    first = page_of(client, q="lighthouse keeper")
    second = client.get(unescape(re.search(r'rel="next" href="([^"]+)"', first).group(1))).get_data(as_text=True)
    link = result_links(second)[0]
    page = target_of(link).split("#")[0].removeprefix("/sop/")
    (fake_sites / "T1" / page).mkdir(parents=True, exist_ok=True)
    (fake_sites / "T1" / page / "index.html").write_text("<h1>light</h1>", encoding="utf-8")
    assert client.get(link).status_code == 302
    [hit] = clicks(engine)
    assert hit.rank == 11 and hit.search_id == logged(engine)[0].id


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/sop/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/search",
        "/sop/../admin/users",
        "/sop/%2e%2e/admin",
        "/sop/procedures/ato-recovery/?next=//evil",
        "/sop/./procedures/",
        "/sop//evil.example",
        '/sop/procedures/ato-recovery/#x" onclick=',
        "",
        "/SOP/",
        "/sop/procedures\r\nLocation: https://evil.example",
    ],
)
def test_result_links_never_redirect_outside_the_sop_site(client, auth, target):
    auth.login_as("agent")
    response = client.get("/search/open", query_string={"to": target})
    assert response.status_code in (400, 404)
    assert "Location" not in response.headers


def test_result_link_to_a_page_outside_the_readers_site_is_not_found(client, auth, engine):
    auth.login_as("agent")
    token = api(client, q="hacked")["search_token"]
    response = client.get(
        "/search/open", query_string={"to": "/sop/procedures/t2-infra/", "t": token, "sop": "T2-INFRA", "rank": "1"}
    )
    assert response.status_code == 404
    assert clicks(engine) == []


def test_forged_click_token_still_opens_but_records_nothing(client, auth, engine):
    auth.login_as("agent")
    response = client.get(
        "/search/open",
        query_string={"to": "/sop/procedures/ato-recovery/#verify-ownership", "t": "1.abc", "sop": "ATO-RECOVERY"},
    )
    assert response.status_code == 302
    assert clicks(engine) == []


def test_a_tier2_search_token_is_not_clickable_by_tier1(client, auth, make_user, make_auth, app, engine):
    auth.login_as("agent", tier="T2", vendor="in-house")
    token = api(client, q="hacked")["search_token"]
    other = app.test_client()
    make_auth(other).login_as("agent")
    assert (
        other.get(
            "/search/open", query_string={"to": "/sop/procedures/ato-recovery/", "t": token, "sop": "ATO-RECOVERY"}
        ).status_code
        == 302
    )
    assert clicks(engine) == []


# --- analytics -----------------------------------------------------------------------------------


@pytest.fixture
def searches(client, auth, make_auth, app):
    """An agent's searches: one opened, one finding nothing, one nobody opened."""
    agent = app.test_client()
    make_auth(agent).login_as("agent")
    link = result_links(page_of(agent, q="verify ownership"))[0]
    agent.get(link)
    page_of(agent, q="xylophone")
    page_of(agent, q='=HYPERLINK("x")')
    page_of(agent, q="sim swap")
    return agent


@pytest.mark.parametrize("role", ["agent", "partner_manager"])
def test_analytics_are_for_trainers_and_admins(client, auth, role):
    auth.login_as(role)
    assert client.get("/search/analytics").status_code == 403
    assert client.get("/search/analytics.csv").status_code == 403


def test_analytics_page_shows_weeks_top_zero_and_unopened(client, auth, searches):
    auth.login_as("trainer")
    html = client.get("/search/analytics").get_data(as_text=True)
    assert "Search analytics" in html and html.count('<svg class="bar"') == 4
    zero = html[html.index("sa-zero-title") : html.index("sa-unopened-title")]
    assert "xylophone" in zero and "verify ownership" not in zero
    unopened = html[html.index("sa-unopened-title") : html.index("Top searches")]
    assert "sim swap" in unopened and "verify ownership" not in unopened
    top = html[html.index("Top searches") :]
    assert "verify ownership" in top and "=hyperlink(&#34;x&#34;)" in top  # typed text, escaped


def test_analytics_window_and_week_selection(client, auth, searches):
    auth.login_as("trainer")
    html = client.get("/search/analytics?weeks=12&tier=T1&who=all").get_data(as_text=True)
    assert html.count('<svg class="bar"') == 12
    week = re.search(r'href="(/search/analytics\?[^"]*week=[^"]+)"', html).group(1)
    one_week = client.get(unescape(week)).get_data(as_text=True)
    assert "the week of" in one_week and "xylophone" in one_week
    assert client.get("/search/analytics?week=not-a-date").status_code == 400
    assert client.get("/search/analytics?weeks=9999").status_code == 200  # falls back to the default


def test_analytics_csv_export_is_safe_for_spreadsheets(client, auth, searches):
    auth.login_as("trainer")
    response = client.get("/search/analytics.csv?weeks=4")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_query = {r["query"]: r for r in rows}
    assert by_query["xylophone"]["zero_result"] == "1" and by_query["verify ownership"]["clicks"] == "1"
    assert '\'=hyperlink("x")' in by_query
    assert all(r["tier"] == "T1" for r in rows)


# --- the SOP site's search box -------------------------------------------------------------------


def test_kb_setup_builds_the_sites_with_the_server_search():
    [args] = [args for _, args in STEPS if args[0] == "build-site"]
    assert args[args.index("--search-url") + 1] == "/search"


def test_site_search_box_query_lands_on_the_search_page_in_the_readers_tier(client, auth):
    auth.login_as("agent")
    html = page_of(client, q="quokka ledger", audience="T2")
    assert "Nothing matched" in html and "Tier 1 site" in html
    assert "SIM-SWAP" in page_of(client, q="sim swap", audience="T1")


@pytest.mark.parametrize(
    "token, url, sop_id",
    [
        ("abc.DEF-_9", "/sop/procedures/sim-swap/#verify-identity", "SIM-SWAP"),
        ("t=1&x", "/sop/a b/?q=1&r=2#z", "ESC-T2.1"),
        ("é", "/sop/procédure/ünïcode/", "X_Y"),
        ("!$'()*,/:;?@", "/sop/+%2F/", "A.B-C"),
    ],
)
def test_result_links_are_the_links_url_for_builds(app, token, url, sop_id):
    from types import SimpleNamespace

    from flask import url_for

    from kb_app.web.search import open_links

    hit = SimpleNamespace(url=url, sop_id=sop_id)
    with app.test_request_context("/api/v1/search", base_url="http://kb.example/root"):
        expected = url_for("search.open_result", t=token, to=url, sop=sop_id, rank=7)
        assert open_links(token)(hit, 7) == expected
        assert expected.startswith("/root/search/open?")
        assert open_links("")(hit, 7) == url

"""Search pages and API: SOP search in the reader's own tier, and the analytics trainers read.

The tier is always the reader's audience (`users.audience_of`): no parameter or query text can
widen it, and the Tier 1 index holds nothing else. Every settled search is recorded for the
training team (kb_app.search_log); result links go through /search/open, which records the
click and redirects only to a page of the reader's own SOP site.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import login_required
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import SQLAlchemyError

from kb_app import search_log, users
from kb_app.search import IndexNotFound, SearchResults, SearchService
from kb_app.search.service import MAX_OFFSET
from kb_app.web.api import api, api_user
from kb_app.web import api_models
from kb_app.web.api_models import SearchQuery
from kb_app.web.context import get_session, roles_required, signed_in_user
from kb_app.web.downloads import csv_download
from kb_app.web.errors import ApiError
from kb_app.web.sites import reading_language, site_root

bp = Blueprint("search", __name__)
log = logging.getLogger(__name__)

PAGE_SIZE = 10
API_MAX_LIMIT = 50
MAX_QUERY_CHARS = 300
FILTER_PARAMS = ("kind", "tag", "id")
MAX_FILTER_VALUES = 8
ANALYTICS_ROLES = ("trainer", "admin", "lead")
WEEK_CHOICES = (1, 2, 4, 8, 12, 26, 52)
TOKEN_SALT = "kb.search-log"
# What werkzeug leaves unencoded in a query value it builds (the WHATWG percent-encode set).
URL_QUERY_SAFE = "!$'()*,/:;?@"
# A result link's target: a page of the SOP site, optionally a heading anchor. No dot segments,
# no query string, no percent escapes: nothing that could leave /sop/ or the reader's own site.
_SITE_TARGET = re.compile(
    r"/sop/(?P<path>(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*/)*(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*)?)(?:#[A-Za-z0-9_.:-]{1,200})?"
)
_SOP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def init_app(app, index_dir: Path) -> None:
    """One search service per app: it is thread-safe and reopens the index after a rebuild."""
    app.extensions["kb_search"] = SearchService(index_dir)


@bp.app_template_filter("utc_minute")
def utc_minute(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def search_service() -> SearchService:
    return current_app.extensions["kb_search"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- running a search --------------------------------------------------------------------------


@dataclass
class Outcome:
    results: SearchResults
    token: str  # names the recorded search for refinements and clicks ("" when none)


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=TOKEN_SALT)


def search_id_from(token: str | None) -> int | None:
    """The recorded search a token names, or None for a missing, forged or foreign token."""
    if not token or len(token) > 200:
        return None
    try:
        value = _serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def filters_from(args) -> dict[str, list[str]]:
    """Facet filters from the query string (`kind`, `tag`, `id`, each repeatable)."""
    out: dict[str, list[str]] = {}
    for name in FILTER_PARAMS:
        values = [value.strip()[:64] for value in args.getlist(name) if value.strip()]
        if values:
            out[name] = list(dict.fromkeys(values))[:MAX_FILTER_VALUES]
    return out


def run_search(
    user,
    query: str,
    filters: dict[str, list[str]],
    *,
    limit: int,
    offset: int,
    refines: str | None,
    group: str | None = None,
) -> Outcome:
    """Search the reader's own tier and record it. Raises IndexNotFound when there is no index.

    A first page is recorded (or refines the search `refines` names); later pages only carry
    the token on, so opening a result from page 2 still counts for the search. `group="sop"`
    gives one result per SOP (see SearchService.search).
    """
    tier = users.audience_of(user)
    results = search_service().search(
        query, tier=tier, limit=limit, offset=offset, filters=filters, language=reading_language(user), group=group
    )
    search_id = search_id_from(refines)
    if offset == 0:
        search_id = _record(user, tier, query, filters, results, search_id)
    return Outcome(results, _serializer().dumps(search_id) if search_id is not None else "")


def _record(user, tier: str, query: str, filters, results: SearchResults, refines: int | None) -> int | None:
    session = get_session()
    try:
        row = search_log.record_search(
            session,
            search_log.searcher_of(user, tier),
            query,
            result_count=results.total,
            filters=filters,
            refines=refines,
            now=_now(),
        )
        session.commit()
    except SQLAlchemyError:  # analytics never stand between an agent and the procedure
        session.rollback()
        log.exception("could not record a search")
        return None
    return row.id if row is not None else None


def open_links(token: str) -> Callable[[Any, int], str]:
    """The link maker for the results of one search (`hit, rank -> link`): through /search/open
    when the search was recorded, else the result's own URL. The route
    is built once, and each result adds its own query (a page of results, every search in a
    crisis: `url_for` per link was a quarter of the search API's time). The same links as
    `url_for("search.open_result", t=token, to=..., sop=..., rank=...)`."""
    if not token:
        return lambda hit, rank: hit.url
    head = f"{url_for('search.open_result')}?t={_quoted(token)}&to="

    def link(hit, rank: int) -> str:
        return f"{head}{_quoted(hit.url)}&sop={_quoted(hit.sop_id)}&rank={rank}"

    return link


@functools.lru_cache(maxsize=4096)
def _quoted(value: str) -> str:
    """A query value encoded as werkzeug's URL building encodes it."""
    return quote_plus(value, safe=URL_QUERY_SAFE)


def group_open_urls(results: SearchResults, token: str, first_rank: int) -> list[list[str]]:
    """Links of each group's sections; a click records the SOP's rank on the page."""
    link = open_links(token)
    return [[link(hit, rank) for hit in group.sections] for rank, group in enumerate(results.groups, start=first_rank)]


def _page_number() -> int:
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        return 1
    return max(1, min(page, MAX_OFFSET // PAGE_SIZE + 1))


# --- pages -------------------------------------------------------------------------------------


@bp.get("/search")
@login_required
def search_page():
    """The search page. `audience` (sent by the SOP site's search box) and `tier` are ignored:
    the reader always searches their own tier."""
    user = signed_in_user()
    query = request.args.get("q", "")[:MAX_QUERY_CHARS]
    filters = filters_from(request.args)
    page = _page_number()
    tier = users.audience_of(user)
    try:
        outcome = run_search(
            user,
            query,
            filters,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            refines=request.args.get("refines"),
            group="sop",
        )
    except IndexNotFound:
        return render_template("search/unavailable.html", query=query, tier=tier), 503
    results = outcome.results
    pages = min(-(-results.total_sops // PAGE_SIZE), MAX_OFFSET // PAGE_SIZE + 1)
    return render_template(
        "search/search.html",
        query=query,
        tier=tier,
        filters=filters,
        results=results,
        token=outcome.token,
        page=page,
        pages=pages,
        first_rank=(page - 1) * PAGE_SIZE + 1,
        group_urls=group_open_urls(results, outcome.token, (page - 1) * PAGE_SIZE + 1),
        keep=_page_args(query, filters, outcome.token),
        active_filters=[
            (
                name,
                value,
                url_for("search.search_page", **_page_args(query, _without(filters, name, value), outcome.token)),
            )
            for name, values in filters.items()
            for value in values
        ],
        facet_links={
            facet: [
                (
                    value,
                    count,
                    url_for("search.search_page", **_page_args(query, _with(filters, facet, value), outcome.token)),
                    value in filters.get(facet, []),
                )
                for value, count in results.facets.get(facet, {}).items()
            ]
            for facet in ("kind", "tag")
        },
        searched=bool(query.strip() or filters),
    )


def _page_args(query: str, filters: dict[str, list[str]], token: str) -> dict:
    """Query-string arguments of a link to another view of the same search."""
    args = {"q": query, **filters, "refines": token}
    return {name: value for name, value in args.items() if value}


def _with(filters: dict[str, list[str]], name: str, value: str) -> dict[str, list[str]]:
    return {**filters, name: list(dict.fromkeys([*filters.get(name, []), value]))}


def _without(filters: dict[str, list[str]], name: str, value: str) -> dict[str, list[str]]:
    out = {**filters, name: [v for v in filters.get(name, []) if v != value]}
    return {k: v for k, v in out.items() if v}


@bp.get("/search/open")
@login_required
def open_result():
    """Record that a result was opened, then go to it: only ever a page of the reader's own site."""
    user = signed_in_user()
    target = request.args.get("to", "")
    match = _SITE_TARGET.fullmatch(target)
    if match is None:
        abort(400, description="That is not a link to an SOP page.")
    if not _in_own_site(user, match.group("path")):
        abort(404)
    search_id = search_id_from(request.args.get("t"))
    sop_id = request.args.get("sop", "")
    if search_id is not None and _SOP_ID.fullmatch(sop_id):
        _record_click(search_id, users.audience_of(user), sop_id, target, request.args.get("rank", ""))
    return redirect(target, code=302)


def _in_own_site(user, path: str) -> bool:
    """Whether the reader's site has this page; any page while their site is not built yet
    (/sop/ then explains that)."""
    root = site_root(user)
    if not (root / "index.html").is_file():
        return True
    page = root / path
    page = page / "index.html" if not path or path.endswith("/") else page
    try:
        resolved, top = page.resolve(), root.resolve()
    except (OSError, ValueError):
        return False
    return page.is_file() and top in resolved.parents


def _record_click(search_id: int, tier: str, sop_id: str, target: str, rank: str) -> None:
    session = get_session()
    try:
        rank_number = int(rank) if rank.isdigit() and len(rank) < 6 else 1
        search_log.record_click(
            session, search_id, tier=tier, sop_id=sop_id, target=target, rank=rank_number, now=_now()
        )
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.exception("could not record a search click")


# --- analytics ---------------------------------------------------------------------------------


def _window(args) -> search_log.Window:
    try:
        weeks = int(args.get("weeks", "4"))
    except ValueError:
        weeks = 4
    if weeks not in WEEK_CHOICES:
        weeks = 4
    tier = args.get("tier") if args.get("tier") in ("T1", "T2") else None
    week = None
    if args.get("week"):
        try:
            week = search_log.week_of(date.fromisoformat(args["week"]))
        except ValueError:
            abort(400, description="week must be a date, e.g. 2026-11-23.")
    return search_log.Window(weeks=weeks, week=week, tier=tier, agents_only=args.get("who", "agents") != "all")


def _window_query(window: search_log.Window) -> dict:
    return {
        "weeks": window.weeks,
        "tier": window.tier,
        "who": None if window.agents_only else "all",
        "week": window.week.isoformat() if window.week else None,
    }


@bp.get("/search/analytics")
@roles_required(*ANALYTICS_ROLES)
def analytics_page():
    window = _window(request.args)
    session, now = get_session(), _now()
    weeks = search_log.weekly_summary(session, window, now=now)
    query = {k: v for k, v in _window_query(window).items() if v}
    return render_template(
        "search/analytics.html",
        window=window,
        weeks=weeks,
        totals=search_log.window_totals(session, window, now=now),
        busiest=max((w.searches for w in weeks), default=0),
        top=search_log.top_queries(session, window, now=now),
        zero=search_log.zero_result_queries(session, window, now=now),
        unopened=search_log.unopened_queries(session, window, now=now),
        week_choices=WEEK_CHOICES,
        query=query,
        base_query={k: v for k, v in query.items() if k != "week"},
    )


@bp.get("/search/analytics.csv")
@roles_required(*ANALYTICS_ROLES)
def analytics_csv():
    window = _window(request.args)
    rows = search_log.export_rows(get_session(), window, now=_now())
    name = f"search-analytics-{window.week.isoformat() if window.week else f'{window.weeks}w'}{'-' + window.tier if window.tier else ''}.csv"
    return csv_download(search_log.EXPORT_COLUMNS, rows, name)


# --- API ---------------------------------------------------------------------------------------


@api.route(
    "/search",
    summary="Search the SOPs the caller may read (their own tier only)",
    description="Searches the caller's audience: Tier 1 agents and partner managers search the Tier 1 SOPs, "
    "everyone else Tier 2. No parameter widens it, and a Tier 1 caller's results, counts, facets, snippets and "
    "suggestions never reflect Tier 2-only material. The query language: words (typos, acronyms and synonyms "
    'forgiven), "quoted phrases", `word*`, and filters `tag:`, `kind:`, `id:` (also `id:ESC-*`), `status:`. '
    "A first page is recorded for the training team's search analytics without the caller's identity (tier, role "
    "and vendor only; e-mail addresses and long numbers are redacted). Send the previous response's `search_token` "
    "as `refines` while the user is still typing, so one typing burst counts as one search. "
    "With `group=sop` the answer is one result per SOP (`groups`, each with its best sections as deep links; "
    "`limit` and `offset` count SOPs, facets count SOPs); `results` then lists those sections in order, so a "
    "client reading only `results` keeps working. "
    "503 `index_not_built` until `kb index` has run.",
    query=SearchQuery,
    responses={200: api_models.SearchResults},
    errors=(503,),
)
def search_api(query: SearchQuery) -> api_models.SearchResults:
    user = api_user()
    filters = {name: list(dict.fromkeys(getattr(query, name))) for name in FILTER_PARAMS if getattr(query, name)}
    try:
        outcome = run_search(
            user,
            query.q,
            filters,
            limit=query.limit,
            offset=query.offset,
            refines=query.refines,
            group=query.group,
        )
    except IndexNotFound:
        raise ApiError(503, "index_not_built", "The search index is not built yet: run `kb index`.") from None
    results = outcome.results
    if results.group:
        group_urls = group_open_urls(results, outcome.token, query.offset + 1)
        urls = [url for urls_of_group in group_urls for url in urls_of_group]
        return api_models.SearchResults.of(results, urls, outcome.token, group_urls)
    link = open_links(outcome.token)
    urls = [link(hit, rank) for rank, hit in enumerate(results.hits, start=query.offset + 1)]
    return api_models.SearchResults.of(results, urls, outcome.token)

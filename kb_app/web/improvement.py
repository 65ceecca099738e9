"""Closing the loop on the web: agents flag SOP sections (pages and `POST /api/v1/feedback`),
trainers triage the flags, read the gaps, run the action plans and see their outcomes; partner
managers read their own vendor's flags.

Routes parse input, call `kb_app.improvement` and render. Who may see what is decided by
`kb_app.users` (`can_view_gaps`, `can_triage`, `feedback_vendor_scope`).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone
from typing import Any, cast
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from kb_app import users
from kb_app.catalog import load_catalog
from kb_app.catalog.model import Sop
from kb_app.improvement import actions, feedback, gaps, outcomes
from kb_app.improvement.actions import ActionError, ActionInput, GapLink
from kb_app.improvement.feedback import KIND_LABELS, FeedbackError
from kb_app.models.improvement import ACTION_STATUSES, ACTION_TYPES, COMMENT_CHARS, FLAG_STATUSES
from kb_app.search import IndexNotFound
from kb_app.web.api import api, api_user, identified_user
from kb_app.web.api_models import FeedbackFlag, FeedbackForm, FeedbackFormQuery, FeedbackRequest
from kb_app.web.context import get_session, login_manager, settings, signed_in_user
from kb_app.web.downloads import csv_download
from kb_app.web.errors import ApiError
from kb_app.web.search import search_service

bp = Blueprint("improvement", __name__)
CATALOG_SECONDS = 60.0
LIMITED = ("improvement.flag_submit", "api.api_feedback")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def apply_rate_limits(app: Flask, limiter: Limiter) -> None:
    """Feedback flags per signed-in user, pages and API sharing one budget."""
    shared = limiter.shared_limit(
        lambda: current_app.config["FEEDBACK_RATE_LIMIT"], scope="feedback", key_func=_user_key, methods=["POST"]
    )
    for endpoint in LIMITED:
        # The decorator's declared return type covers async views too; these views are plain.
        app.view_functions[endpoint] = cast(Any, shared(app.view_functions[endpoint]))


def _user_key() -> str:
    """Per person: the bearer token's or the session's user (never the address: a BPO site puts
    hundreds of agents behind one)."""
    user = (
        identified_user()
        if request.blueprint == "api"
        else (current_user.user if current_user.is_authenticated else None)
    )
    return f"user:{user.id}" if user is not None else f"ip:{request.remote_addr or ''}"


def _signed_in():
    if not current_user.is_authenticated:
        abort(login_manager.unauthorized())
    return signed_in_user()


def _agent() -> None:
    if _signed_in().role != "agent":
        abort(403)


def _gap_reader() -> None:
    if not users.can_view_gaps(_signed_in()):
        abort(403)


def _triager() -> None:
    if not users.can_triage(_signed_in()):
        abort(403)


@bp.app_context_processor
def _permissions() -> dict:
    """Templates (the navigation) ask the same permission functions as the routes."""
    return {"can_view_gaps": users.can_view_gaps, "can_triage": users.can_triage}


def _safe_next(target: str | None, default: str) -> str:
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


# --- the catalog (review dates) and the full index (where a search should have landed) -------------


def _catalog_sops() -> list[Sop]:
    """The SOP files, re-read at most once a minute (review dates change with a commit)."""
    cache = current_app.extensions.setdefault("kb_gap_catalog", {})
    loaded_at, sops = cache.get("sops", (0.0, None))
    if sops is None or time.monotonic() - loaded_at > CATALOG_SECONDS:
        try:
            sops = list(load_catalog(settings().sop_dir).sops.values())
        except OSError:
            sops = []
        cache["sops"] = (time.monotonic(), sops)
    return sops


def _matcher() -> gaps.Matcher:
    """The full index's best section for a query, remembered per index build."""
    service = search_service()
    try:
        build_id = service.current().build_id
    except IndexNotFound:
        return lambda _query: None
    cache = current_app.extensions.setdefault("kb_gap_matches", {})
    if cache.get("build") != build_id:
        cache.update(build=build_id, match=gaps.search_matcher(service))
    return cache["match"]


GAPS_CACHE_SECONDS = 30


def _cached_gaps(days: int, now: datetime) -> list[gaps.Gap]:
    """The gaps of the last `days` days, computed at most once per GAPS_CACHE_SECONDS per process
    (the signals move by the hour; a page reload must not rescan the window each time).
    KB_CACHE_SECONDS=0 switches it off."""
    ttl = min(settings().cache_seconds, GAPS_CACHE_SECONDS)
    cache = current_app.extensions.setdefault("kb_gap_cache", {})
    hit = cache.get(days)
    if ttl and hit is not None and time.monotonic() - hit[0] < ttl:
        return hit[1]
    query = gaps.GapQuery(since=now - timedelta(days=days), now=now)
    found = gaps.find_gaps(get_session(), query, matcher=_matcher(), sops=_catalog_sops())
    if ttl:
        cache[days] = (time.monotonic(), found)
    return found


def forget_gaps() -> None:
    """Drop this process's cached gaps (after a triage or an action changes which gaps are answered)."""
    current_app.extensions.pop("kb_gap_cache", None)


# --- feedback: agents -------------------------------------------------------------------------------


@bp.get("/feedback/new")
def flag_form():
    _agent()
    args = request.args
    return render_template(
        "improvement/flag_form.html",
        sop_id=(args.get("sop_id") or "")[:64],
        anchor=(args.get("anchor") or "")[:200],
        version=(args.get("version") or "")[:16],
        section=(args.get("section") or "")[:300],
        next_url=_safe_next(args.get("next"), url_for("improvement.my_feedback")),
        kinds=KIND_LABELS,
        max_chars=COMMENT_CHARS,
    )


@bp.post("/feedback")
def flag_submit():
    _agent()
    form = request.form
    session = get_session()
    next_url = _safe_next(form.get("next"), url_for("improvement.my_feedback"))
    try:
        feedback.raise_flag(
            session,
            signed_in_user(),
            sop_id=(form.get("sop_id") or "")[:64],
            anchor=(form.get("anchor") or "")[:200],
            kind=form.get("kind") or "",
            comment=form.get("comment") or "",
            version=(form.get("version") or "")[:16] or None,
            now=_now(),
        )
    except FeedbackError as error:
        session.rollback()
        if error.status == 404:
            abort(404)
        flash(str(error), "error")
        return redirect(next_url, 303)
    session.commit()
    flash("Thank you: the training team will look at it. Their answer will show under My feedback.", "ok")
    return redirect(next_url, 303)


@bp.get("/feedback/mine")
def my_feedback():
    _agent()
    flags = feedback.my_flags(get_session(), signed_in_user())
    return render_template("improvement/my_feedback.html", flags=flags)


# --- feedback: the API (site pages post here) -----------------------------------------------------


@api.route(
    "/feedback/form",
    summary="What a page needs to offer the flag control (agents)",
    description="The session's CSRF token (for a cookie-authenticated POST /feedback), the kinds of flag and "
    "the comment limit. 403 for users who do not flag.",
    query=FeedbackFormQuery,
    responses={200: FeedbackForm},
    errors=(403,),
    tags=("feedback",),
)
def api_feedback_form(query: FeedbackFormQuery) -> FeedbackForm:
    user = api_user()
    if user.role != "agent":
        raise ApiError(403, "forbidden", "Only agents flag SOP sections.")
    return FeedbackForm(
        csrf_token=generate_csrf(),
        kinds=[{"value": k, "label": v} for k, v in KIND_LABELS.items()],
        max_comment_chars=COMMENT_CHARS,
        mine_url=url_for("improvement.my_feedback"),
        anchors=feedback.flaggable_anchors(get_session(), user, query.sop_id) if query.sop_id else [],
    )


@api.route(
    "/feedback",
    "POST",
    summary="Flag an SOP section as unclear, outdated, wrong or missing a step (agents)",
    description="201 with the stored flag. 404 for an SOP or section the agent cannot read, 409 `section_removed` "
    "when the newest version no longer has the section, 422 for a bad comment or version, 429 past the "
    "per-agent limit (KB_FEEDBACK_RATE_LIMIT).",
    body=FeedbackRequest,
    responses={201: FeedbackFlag},
    errors=(403, 404, 409, 422),
    tags=("feedback",),
)
def api_feedback(body: FeedbackRequest):
    session = get_session()
    try:
        flag = feedback.raise_flag(
            session,
            api_user(),
            sop_id=body.sop_id,
            anchor=body.anchor,
            kind=body.kind,
            comment=body.comment,
            version=body.version,
            now=_now(),
        )
    except FeedbackError as error:
        session.rollback()
        raise ApiError(error.status, error.code, str(error), field=error.field) from None
    session.commit()
    return FeedbackFlag.of(flag), 201


# --- feedback: trainers and partner managers ----------------------------------------------------------


def _feedback_scope() -> str | None:
    user = _signed_in()
    try:
        scope = users.feedback_vendor_scope(user)
    except PermissionError:
        abort(403)
    asked = (request.args.get("vendor") or "").strip() or None
    if scope is not None and asked is not None and asked != scope:
        abort(403, description="You can only see your own vendor's feedback.")
    return scope if scope is not None else asked


@bp.get("/feedback")
def feedback_page():
    vendor = _feedback_scope()
    status = request.args.get("status") or None
    if status is not None and status not in FLAG_STATUSES:
        status = None
    sop_id = (request.args.get("sop") or "").strip()[:64] or None
    session = get_session()
    # A Tier 1 reader (a partner manager) sees Tier 1 agents' flags only: never a Tier 2 section.
    tier = "T1" if users.audience_of(signed_in_user()) == "T1" else None
    flags = feedback.list_flags(session, vendor=vendor, status=status, sop_id=sop_id, tier=tier)
    triager = users.can_triage(signed_in_user())
    open_actions = actions.list_actions(session, status=None) if triager else []
    return render_template(
        "improvement/feedback.html",
        flags=flags,
        vendor=vendor,
        status=status,
        sop_id=sop_id,
        statuses=FLAG_STATUSES,
        open_actions=[a for a in open_actions if a.status in actions.OPEN_STATUSES],
    )


@bp.post("/feedback/<int(max=2147483647):flag_id>/triage")
def triage(flag_id: int):
    _triager()
    form = request.form
    session = get_session()
    action_id = form.get("action_id") or ""
    try:
        feedback.triage(
            session,
            signed_in_user(),
            flag_id,
            decision=form.get("decision") or "",
            answer=form.get("answer") or "",
            action_id=int(action_id) if action_id.isdigit() and len(action_id) < 10 else None,
            now=_now(),
        )
    except FeedbackError as error:
        session.rollback()
        if error.status == 404 and error.field == "flag_id":
            abort(404)
        flash(str(error), "error")
        return redirect(url_for("improvement.feedback_page"), 303)
    session.commit()
    forget_gaps()
    flash(f"Flag {flag_id} triaged.", "ok")
    return redirect(url_for("improvement.feedback_page"), 303)


# --- gaps ---------------------------------------------------------------------------------------------


def _days() -> int:
    try:
        return gaps.parse_days(request.args.get("days"))
    except gaps.GapError as error:
        abort(400, description=str(error))


@bp.get("/gaps")
def gaps_page():
    _gap_reader()
    days = _days()
    now = _now()
    found = _cached_gaps(days, now)
    return render_template("improvement/gaps.html", gaps=found, days=days, rules=gaps.RULES)


# --- actions ------------------------------------------------------------------------------------------


@bp.get("/actions")
def actions_page():
    _gap_reader()
    status = request.args.get("status") or None
    if status is not None and status not in ACTION_STATUSES:
        status = None
    found = actions.list_actions(get_session(), status=status)
    return render_template(
        "improvement/actions.html",
        actions=found,
        status=status,
        statuses=ACTION_STATUSES,
        labels=actions.STATUS_LABELS,
        today=_now().date(),
        is_overdue=actions.is_overdue,
    )


@bp.get("/actions.csv")
def actions_csv():
    _gap_reader()
    rows = actions.export_rows(get_session(), today=_now().date())
    return csv_download(list(actions.EXPORT_COLUMNS), rows, "actions.csv")


def _gap_from_key(key: str) -> gaps.Gap | None:
    if not key:
        return None
    now = _now()
    query = gaps.GapQuery(since=now - timedelta(days=gaps.DEFAULT_DAYS), now=now)
    return gaps.find_gap(get_session(), key[:300], query, matcher=_matcher(), sops=_catalog_sops())


@bp.get("/actions/new")
def new_action():
    _triager()
    gap = _gap_from_key(request.args.get("gap") or "")
    flag_id = request.args.get("flag") or ""
    prefill = {
        "title": "",
        "sections": "",
        "action_type": "sop",
        "gap": "",
        "flag_ids": flag_id if flag_id.isdigit() and len(flag_id) < 10 else "",
    }
    if gap is not None:
        prefill.update(
            title=f"Fix {gap.title}" + (f" — {gap.section}" if gap.section else ""),
            sections=gap.key if gap.sop_id else "",
            action_type=gap.kind,
            gap=gap.key,
        )
    return render_template(
        "improvement/action_form.html", prefill=prefill, gap=gap, types=ACTION_TYPES, today=_now().date()
    )


def _form_input(form) -> ActionInput:
    due = None
    try:
        due = date.fromisoformat(form.get("due_date") or "")
    except ValueError:
        due = None
    gap_key = (form.get("gap") or "").strip()[:300]
    gap = _gap_from_key(gap_key) if gap_key else None
    flag_ids = tuple(
        int(v) for v in (form.get("flag_ids") or "").replace(",", " ").split() if v.isdigit() and len(v) < 10
    )
    return ActionInput(
        title=form.get("title") or "",
        owner_email=form.get("owner_email") or "",
        team=form.get("team") or "",
        due_date=due,
        action_type=form.get("action_type") or "",
        vendor=form.get("vendor") or None,
        notes=form.get("notes") or "",
        sections=actions.parse_sections(form.get("sections") or ""),
        gaps=(GapLink(gap_key, tuple(gap.queries) if gap else ()),) if gap_key else (),
        flag_ids=flag_ids,
    )


@bp.post("/actions")
def create_action():
    _triager()
    session = get_session()
    user = signed_in_user()
    try:
        action = actions.create_action(
            session, _form_input(request.form), actor=user.email, actor_user_id=user.id, now=_now()
        )
    except ActionError as error:
        session.rollback()
        flash(str(error), "error")
        form = request.form
        prefill = {
            k: (form.get(k) or "")
            for k in (
                "title",
                "sections",
                "action_type",
                "gap",
                "flag_ids",
                "owner_email",
                "team",
                "due_date",
                "vendor",
                "notes",
            )
        }
        return render_template(
            "improvement/action_form.html",
            prefill=prefill,
            gap=None,
            types=ACTION_TYPES,
            today=_now().date(),
            error=error,
        ), 422
    session.commit()
    forget_gaps()
    flash(f"Action {action.id} opened.", "ok")
    return redirect(url_for("improvement.action_page", action_id=action.id), 303)


def _action(action_id: int):
    try:
        return actions.get_action(get_session(), action_id)
    except ActionError:
        abort(404)


@bp.get("/actions/<int(max=2147483647):action_id>")
def action_page(action_id: int):
    _gap_reader()
    action = _action(action_id)
    now = _now()
    result = outcomes.outcome(get_session(), action, now=now)
    flags = feedback.list_flags_of_action(get_session(), action.id)
    return render_template(
        "improvement/action.html",
        action=action,
        outcome=result,
        flags=flags,
        labels=actions.STATUS_LABELS,
        next_statuses=actions.TRANSITIONS[action.status],
        overdue=actions.is_overdue(action, now.date()),
        min_sample=outcomes.MIN_SAMPLE,
    )


@bp.post("/actions/<int(max=2147483647):action_id>/status")
def action_status(action_id: int):
    _triager()
    action = _action(action_id)
    session = get_session()
    user = signed_in_user()
    try:
        actions.set_status(
            session,
            action,
            request.form.get("status") or "",
            actor=user.email,
            actor_user_id=user.id,
            note=request.form.get("note") or "",
            now=_now(),
        )
    except ActionError as error:
        session.rollback()
        flash(str(error), "error")
        return redirect(url_for("improvement.action_page", action_id=action_id), 303)
    session.commit()
    flash(f"Action {action_id} is now {actions.STATUS_LABELS[action.status].lower()}.", "ok")
    return redirect(url_for("improvement.action_page", action_id=action_id), 303)

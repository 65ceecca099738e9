"""Pages and API for publishing, reading lists, acknowledgements and coverage.

Agents see only their own reading list and acknowledgements; partner managers see their own
vendor's coverage only (any other vendor named in a URL is 403); trainers, admins and the read-only LOB lead see all.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from kb_app import audit, roster_sites, users
from kb_app.acks import acknowledge as acks
from kb_app.acks import coverage as reports
from kb_app.acks import reminders
from kb_app.catalog import load_catalog, validate_catalog
from kb_app.catalog.languages import direction, language_name
from kb_app.catalog import rendering
from kb_app.catalog.rendering import site_url
from kb_app.models import Requirement
from kb_app.releases import site_options_for
from kb_app.services import acknowledging, publishing, reporting
from kb_app.web.api import api, api_user
from kb_app.web.api_models import (
    Acknowledgement,
    AcknowledgementRequest,
    Banner,
    BannerQuery,
    Bulletin,
    ChangesQuery,
    Coverage,
    CoverageQuery,
    CoverageRow,
    PageBanner,
    QuizReview,
    ReadingItem,
    ReadingList,
    RenderedChange,
    SectionChange,
    SopChanges,
    SopPath,
)
from kb_app.web.contract import query_args
from kb_app.web.context import banks, get_session, roles_required, settings, signed_in_user, viewer_zone
from kb_app.web.downloads import csv_download, xlsx_download
from kb_app.web.inputs import bounded_int
from kb_app.web.errors import ApiError
from kb_app.web.sites import reading_language

bp = Blueprint("acks", __name__)
COVERAGE_ROLES = users.REPORT_ROLES
GROUP_CHOICES = ["vendor", "site", "team", "team_leader", "language", "tier"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def render_markdown(text: str, sop_path: str) -> Markup:
    """SOP text comes from the reviewed git corpus; it is rendered like the MkDocs site renders it."""
    return Markup(rendering.render_markdown(text, sop_path))


def _agent_or_404(user):
    if user.role != "agent" or user.agent is None:
        abort(404)
    return user.agent


# --- agent: reading list, what changed, acknowledge -----------------------------------------


@bp.get("/reading-list")
@roles_required("agent")
def reading_list():
    agent = _agent_or_404(signed_in_user())
    session = get_session()
    loaded = banks()
    found = acknowledging.reading(session, agent, loaded, now=_now())
    return render_template(
        "acks/reading_list.html",
        items=found.items,
        now=_now(),
        remediation=found.reviews,
        quiz_titles={b.id: b.title for b in loaded.banks.values()},
    )


@bp.get("/reading-list/<sop_id>")
@roles_required("agent")
def read(sop_id: str):
    agent = _agent_or_404(signed_in_user())
    session = get_session()
    try:
        change = acknowledging.what_changed(
            session, agent, sop_id, banks(), now=_now(), language=reading_language(signed_in_user())
        )
    except acks.AckError:
        abort(404)
    banner = acknowledging.banner(session, agent, sop_id, banks(), now=_now())
    return render_template(
        "acks/read.html",
        change=change,
        banner=banner,
        redline=change.redline(),
        full_text=render_markdown(change.text, change.current.path) if change.diff is None else None,
        site_url=site_url(change.current.path),
        site_url_for=site_url,
        language_label=language_name(change.reading_language),
        text_direction=direction(change.language),
    )


@bp.post("/reading-list/<sop_id>/acknowledge")
@roles_required("agent")
def acknowledge(sop_id: str):
    agent = _agent_or_404(signed_in_user())
    session = get_session()
    try:
        result = acknowledging.acknowledge_change(
            session,
            agent,
            sop_id,
            request.form.get("content_hash", ""),
            banks(),
            version=request.form.get("version") or None,
            now=_now(),
            channel="web",
            language=request.form.get("language") or None,
        )
    except acks.AckError as error:
        session.rollback()
        if error.status == 404:
            abort(404)
        flash(error.message, "error")
        return redirect(url_for("acks.read", sop_id=sop_id))
    session.commit()
    ack = result.acknowledgement
    when = roster_sites.local_time(ack.acknowledged_at, viewer_zone()).local
    following = acks.next_to_read(acknowledging.reading_list(session, agent, banks(), now=_now()), after=sop_id)
    flash(
        (
            f"Acknowledged {sop_id} v{result.version} on {when}."
            if result.created
            else f"You already acknowledged {sop_id} v{result.version} on {when}."
        )
        + (f" Next on your reading list: {following.sop_id}." if following else "")
    )
    if following is not None:
        return redirect(url_for("acks.read", sop_id=following.sop_id))
    return redirect(url_for("acks.reading_list"))


# --- trainers: publish preview --------------------------------------------------------------


@bp.route("/publish", methods=["GET", "POST"])
@roles_required("trainer", "admin")
def publish_page():
    cfg = settings()
    catalog = load_catalog(cfg.sop_dir)
    report = validate_catalog(catalog, against=None)
    session = get_session()
    plan, refused = None, []
    if report.ok:
        try:
            plan = publishing.preview_release(session, catalog, banks(), now=_now(), due_days=cfg.ack_due_days)
        except publishing.PublishRefused as error:
            refused = error.problems
    if request.method == "POST" and report.ok and not refused:
        user = signed_in_user()
        try:
            done = publishing.publish_release(
                session,
                catalog,
                banks(),
                now=_now(),
                by=user.email,
                actor_user_id=user.id,
                due_days=cfg.ack_due_days,
                onboarding_days=cfg.onboarding_days,
                index_dir=cfg.index_dir,
                site_dir=cfg.site_dir,
                site_options=site_options_for(cfg),
            )
        except publishing.PublishRefused as error:
            session.rollback()
            refused = error.problems
        else:
            flash(f"Published {len(done.plan.changes)} versions.")
            if done.warmed:
                flash(f"Banners and reading lists computed ahead for {done.warmed:,} agents.")
            for note in done.notes:
                flash(note[:1].upper() + note[1:] + ".", "error")
            return redirect(url_for("acks.publish_page"))
    return render_template("acks/publish.html", plan=plan, errors=report.errors, refused=refused)


# --- coverage --------------------------------------------------------------------------------


def scoped_filter(args, user, *, open_only: bool | None = None) -> reports.CoverageFilter:
    """Filters from a query string, confined to the user's vendor for partner managers.

    Raises PermissionError when a partner manager names another vendor.
    """
    vendor = (args.get("vendor") or "").strip() or None
    if user.role == "partner_manager":
        if vendor is not None and vendor != user.vendor:
            raise PermissionError("You can only see your own vendor's coverage.")
        vendor = user.vendor
    requirement_id = bounded_int(args, "requirement", default=None, low=1, high=2**31 - 1)
    if open_only is None:
        open_only = requirement_id is None and args.get("closed") != "1"
    return reports.CoverageFilter(
        requirement_id=requirement_id,
        sop_id=(args.get("sop") or "").strip() or None,
        vendor=vendor,
        site=(args.get("site") or "").strip() or None,
        team=(args.get("team") or "").strip() or None,
        team_leader=(args.get("team_leader") or "").strip() or None,
        open_only=open_only,
    )


def coverage_filter(args, user) -> reports.CoverageFilter:
    try:
        return scoped_filter(args, user)
    except PermissionError as error:
        abort(403, description=str(error))


def _group_by(args) -> list[str]:
    groups = [g for g in (args.get("by") or "vendor,site").split(",") if g]
    if not groups or any(g not in GROUP_CHOICES for g in groups):
        abort(400, description=f"Group by one or more of: {', '.join(GROUP_CHOICES)}.")
    return groups


@bp.get("/coverage")
@roles_required(*COVERAGE_ROLES)
def coverage_page():
    user = signed_in_user()
    flt = coverage_filter(request.args, user)
    groups = _group_by(request.args)
    session = get_session()
    now = _now()
    sort, descending = _sort_args(request.args, "worst")
    by_requirement = reporting.coverage_overview(session, by=["requirement"], now=now, flt=flt)
    grouped = reporting.coverage_overview(session, by=groups, now=now, flt=flt)
    try:
        by_requirement = reports.sort_rows(by_requirement, "worst")
        grouped = reports.sort_rows(grouped, sort, descending=descending, groups=groups)
    except reports.ReportError as error:
        abort(400, description=str(error))
    totals = _totals(by_requirement)
    return render_template(
        "acks/coverage.html",
        by_requirement=by_requirement,
        grouped=grouped,
        groups=groups,
        group_choices=GROUP_CHOICES,
        flt=flt,
        totals=totals,
        scope=user.vendor if user.role == "partner_manager" else None,
        query={k: v for k, v in request.args.items() if v},
        sort=sort,
        descending=descending,
        drill=DRILL,
        filter_args={k: request.args[k] for k in OVERDUE_FILTERS if request.args.get(k)},
    )


# Drill-down: a row of one level opens the next level filtered to it; a team opens its agents.
DRILL = {"vendor": "site", "site": "team"}


def _sort_args(args, default: str) -> tuple[str, bool]:
    """`sort=column&dir=desc` (the column headers), or `sort=-column` (the phone's sort menu)."""
    sort = (args.get("sort") or default).strip()
    if sort.startswith("-"):
        return sort[1:], True
    return sort, args.get("dir") == "desc"


def _totals(rows: list[reports.CoverageRow]) -> dict:
    keys = ("population", "on_time", "late", "pending", "overdue")
    totals = {k: sum(getattr(r, k) for r in rows) for k in keys}
    totals["acknowledged_pct"] = (
        round(100.0 * (totals["on_time"] + totals["late"]) / totals["population"], 1) if totals["population"] else 0.0
    )
    return totals


@bp.get("/coverage/requirements/<int(max=2147483647):requirement_id>")
@roles_required(*COVERAGE_ROLES)
def requirement_page(requirement_id: int):
    user = signed_in_user()
    session = get_session()
    requirement = session.get(Requirement, requirement_id)
    # A Tier 1 reader (a partner manager) cannot tell a Tier 2-only requirement from none.
    if requirement is None or not acks.can_read_tier(requirement.version, users.audience_of(user)):
        abort(404)
    flt = coverage_filter(request.args, user)
    flt = reports.CoverageFilter(
        requirement_id=requirement_id, vendor=flt.vendor, site=flt.site, team=flt.team, open_only=False
    )
    now = _now()
    [overall] = reports.coverage(session, by=["requirement"], now=now, flt=flt) or [None]
    return render_template(
        "acks/requirement.html",
        requirement=requirement,
        overall=overall,
        by_vendor=reports.coverage(session, by=["vendor"], now=now, flt=flt),
        by_site=reports.coverage(session, by=["vendor", "site"], now=now, flt=flt),
        timeline=reports.acknowledgements_over_time(session, requirement_id, flt=flt),
        live=requirement.is_bulletin and requirement.is_open,
        scope=user.vendor if user.role == "partner_manager" else None,
    )


OVERDUE_LIMIT = 2000


def _overdue_rows(args, user) -> tuple[reports.CoverageFilter, list[reports.OverdueAgentRow], str, bool]:
    flt = coverage_filter(args, user)
    sort, descending = _sort_args(args, "oldest_due")
    try:
        rows = reports.overdue_by_agent(
            get_session(), now=_now(), flt=flt, sort=sort, descending=descending, limit=OVERDUE_LIMIT
        )
    except reports.ReportError as error:
        abort(400, description=str(error))
    return flt, rows, sort, descending


OVERDUE_FILTERS = ("vendor", "site", "team", "team_leader", "sop", "requirement")


@bp.get("/coverage/overdue")
@roles_required(*COVERAGE_ROLES)
def overdue_page():
    user = signed_in_user()
    flt, rows, sort, descending = _overdue_rows(request.args, user)
    scope = user.vendor if user.role == "partner_manager" else None
    return render_template(
        "acks/overdue.html",
        rows=rows,
        flt=flt,
        limit=OVERDUE_LIMIT,
        sort=sort,
        descending=descending,
        scope=scope,
        choices=reports.overdue_choices(get_session(), now=_now(), vendor=flt.vendor if scope else None),
        filters={k: request.args[k] for k in OVERDUE_FILTERS if request.args.get(k)},
        query={k: v for k, v in request.args.items() if v},
    )


def _overdue_export(extension: str):
    user = signed_in_user()
    flt, rows, _, _ = _overdue_rows(request.args, user)
    audit.record(
        get_session(),
        "overdue.export",
        actor=user.email,
        actor_user_id=user.id,
        details={"vendor": flt.vendor, "format": extension, "rows": len(rows)},
    )
    get_session().commit()
    name = f"overdue-{flt.vendor or 'all'}-{date.today().isoformat()}.{extension}"
    return reports.OVERDUE_EXPORT_COLUMNS, [r.to_dict() for r in rows], name


@bp.get("/coverage/overdue.csv")
@roles_required(*COVERAGE_ROLES)
def overdue_csv():
    headers, rows, name = _overdue_export("csv")
    return csv_download(headers, rows, name)


@bp.get("/coverage/overdue.xlsx")
@roles_required(*COVERAGE_ROLES)
def overdue_xlsx():
    headers, rows, name = _overdue_export("xlsx")
    return xlsx_download(headers, rows, name, title="Overdue agents")


@bp.post("/coverage/overdue/remind")
@roles_required(*COVERAGE_ROLES)
def remind_overdue():
    """Send the overdue agents of the filter (the form repeats it) their reminder now."""
    user = signed_in_user()
    form = {k: request.form[k] for k in OVERDUE_FILTERS if request.form.get(k)}
    flt = coverage_filter(form, user)
    cfg = settings()
    session = get_session()
    now = _now()
    plan = reminders.plan_overdue_reminders(session, flt, now=now, base_url=cfg.base_url)
    sent, failure = 0, None
    try:
        sent = reminders.send_reminders(session, plan.reminders, cfg, now=now)
    except OSError as error:
        session.rollback()
        failure = f"the mail server {cfg.smtp_host}:{cfg.smtp_port} did not take them ({error})"
        sent = _count_sent(plan, session, now)
    audit.record(
        session,
        "reminders.send",
        actor=user.email,
        actor_user_id=user.id,
        details={
            "filter": {**form, **({"vendor": flt.vendor} if flt.vendor else {})},
            "agents": plan.agents,
            "sent": sent,
            "skipped": plan.reasons(),
            **({"error": failure} if failure else {}),
        },
    )
    session.commit()
    flash(_remind_summary(plan, sent), "error" if failure else "message")
    if failure:
        flash(f"Not all reminders went out: {failure}. Those sent are logged; try again later.", "error")
    return redirect(url_for("acks.overdue_page", **form))


def _count_sent(plan: reminders.RemindPlan, session, now: datetime) -> int:
    """After a failure half-way: how many of the plan's mails were sent (each is logged as it goes)."""
    return reminders.logged_since(session, [r.recipient for r in plan.reminders], now)


def _remind_summary(plan: reminders.RemindPlan, sent: int) -> str:
    if not plan.agents:
        return "Nobody in this selection is overdue: no reminder sent."
    text = f"Sent {sent} reminder{'s' if sent != 1 else ''} now"
    if plan.skipped:
        reasons = "; ".join(f"{n} {reason}" for reason, n in sorted(plan.reasons().items()))
        text += f", skipped {len(plan.skipped)} ({reasons})"
    return text + "."


EXPORT_COLUMNS = [
    "population",
    "on_time",
    "late",
    "pending",
    "overdue",
    "awaiting_quiz",
    "acknowledged_pct",
    "median_hours_to_ack",
]


def _export_rows():
    user = signed_in_user()
    flt = coverage_filter(request.args, user)
    groups = ["requirement"] + [g for g in _group_by(request.args) if g != "requirement"]
    rows = [CoverageRow.of(r).model_dump() for r in reports.coverage(get_session(), by=groups, now=_now(), flt=flt)]

    audit.record(
        get_session(),
        "coverage.export",
        actor=user.email,
        actor_user_id=user.id,
        details={"vendor": flt.vendor, "rows": len(rows)},
    )
    get_session().commit()
    headers = list(rows[0]) if rows else ["requirement_id", "sop_id", "version", *groups, *EXPORT_COLUMNS]
    return headers, rows, flt


def _export_name(flt, extension: str) -> str:
    return f"coverage-{flt.vendor or 'all'}-{date.today().isoformat()}.{extension}"


@bp.get("/coverage.csv")
@roles_required(*COVERAGE_ROLES)
def coverage_csv():
    headers, rows, flt = _export_rows()
    return csv_download(headers, rows, _export_name(flt, "csv"))


@bp.get("/coverage.xlsx")
@roles_required(*COVERAGE_ROLES)
def coverage_xlsx():
    headers, rows, flt = _export_rows()
    return xlsx_download(headers, rows, _export_name(flt, "xlsx"), title="Coverage")


# --- JSON API ---------------------------------------------------------------------------------


def _api_agent():
    user = api_user()
    if user.role != "agent" or user.agent is None:
        raise ApiError(403, "forbidden", "Only agents have a reading list and acknowledgements.")
    return user.agent


@api.route(
    "/reading-list",
    summary="The agent's open, unacknowledged requirements, soonest due first",
    responses={200: ReadingList},
    errors=(403,),
)
def api_reading_list() -> ReadingList:
    agent = _api_agent()
    session = get_session()
    found = acknowledging.reading(session, agent, banks, now=_now())
    return ReadingList(
        items=[ReadingItem.of(i) for i in found.items],
        quiz_review=[QuizReview.of(task) for task in found.reviews],
    )


@api.route(
    "/sops/<sop_id>/changes",
    summary="What changed in an SOP since the version the agent last acknowledged",
    description="Sections with added/removed lines, or the full text when the agent never acknowledged it. "
    "`content_hash` is what POST /acknowledgements must send.",
    path=SopPath,
    query=ChangesQuery,
    responses={200: SopChanges},
    errors=(403, 404),
)
def api_changes(sop_id: str, query: ChangesQuery) -> SopChanges:
    agent = _api_agent()
    try:
        change = acknowledging.what_changed(get_session(), agent, sop_id, banks(), now=_now(), language=query.language)
    except acks.AckError as error:
        raise ApiError(error.status, error.code, error.message) from None
    redline = change.redline()
    return SopChanges(
        sop_id=sop_id,
        version=change.current.version,
        content_hash=change.content_hash,
        previous_version=change.previous.version if change.previous else None,
        acknowledged_at=change.acknowledged.acknowledged_at if change.acknowledged else None,
        sections=[SectionChange.of(s) for s in change.diff.sections] if change.diff else None,
        text=change.text if change.diff is None else None,
        language=change.language,
        translation_state=change.translation_state.value if change.translation_state else None,
        rendered=[RenderedChange.of(s) for s in redline.sections] if redline is not None else None,
    )


@api.route(
    "/acknowledgements",
    "POST",
    summary="Acknowledge the current version of an SOP (idempotent)",
    description="201 when recorded, 200 with the first record when already acknowledged. 409 `superseded` when "
    "`version` is not current, 409 `hash_mismatch` when `content_hash` is not the text the agent's tier reads, "
    "403 outside the agent's audience, 404 for SOPs the agent cannot read.",
    body=AcknowledgementRequest,
    responses={201: Acknowledgement, 200: Acknowledgement},
    errors=(403, 404, 409),
)
def api_acknowledge(body: AcknowledgementRequest):
    agent = _api_agent()
    session = get_session()
    try:
        result = acknowledging.acknowledge_change(
            session,
            agent,
            body.sop_id,
            body.content_hash,
            banks,
            version=body.version,
            now=_now(),
            channel="api",
            language=body.language,
        )
    except acks.AckError as error:
        session.rollback()
        raise ApiError(error.status, error.code, error.message) from None
    session.commit()
    ack = result.acknowledgement
    out = Acknowledgement.model_validate(
        {
            "sop_id": ack.sop_id,
            "version": result.version,
            "content_hash": ack.content_hash,
            "acknowledged_at": ack.acknowledged_at,
            "channel": ack.channel,
            "language": ack.language,
            "created": result.created,
        }
    )
    return out, 201 if result.created else 200


@api.route(
    "/me/banner",
    summary="What an SOP page tells the signed-in reader, and open bulletins",
    query=BannerQuery,
    responses={200: Banner},
)
def api_banner(query: BannerQuery) -> Banner:
    """What the MkDocs page at `?path=/sop/...` tells the signed-in reader, plus open bulletins.

    `text`/`level`/`url` are what the site's kb.js shows in its announce bar; `page` carries the
    same facts for the page's SOP as data.
    """

    user = api_user()
    tier = users.audience_of(user)
    agent = user.agent if user.role == "agent" else None
    path = (query.path or "").split("#")[0]
    found = acknowledging.page_banner(get_session(), agent, tier, path, banks, now=_now())
    bulletins = [
        Bulletin(sop_id=b.sop_id, title=b.title, version=b.version, url=site_url(b.path), expires_at=b.expires_at)
        for b in found.bulletins
    ]
    page, text, level, link = None, "", "info", None
    if found.banner is not None:
        page = PageBanner.of(found.banner, url_for("acks.read", sop_id=found.sop_id))
        text, level, link = _banner_text(found.banner), _BANNER_LEVELS[found.banner.state], page.read_url
    if not text and found.waiting:
        waiting, overdue = found.waiting, found.overdue
        text = (
            f"You have {waiting} SOP update{'s' if waiting != 1 else ''} to acknowledge"
            + (f", {overdue} overdue" if overdue else "")
            + "."
        )
        level, link = ("danger" if overdue else "warning"), url_for("acks.reading_list")
    return Banner.model_validate({"text": text, "level": level, "url": link, "page": page, "bulletins": bulletins})


_BANNER_LEVELS = {
    "acknowledged": "info",
    "action_required": "warning",
    "overdue": "danger",
    "quiz_required": "warning",
    "none": "info",
}


def _banner_text(banner: acks.Banner) -> str:
    if banner.state == "quiz_required":
        return f"Acknowledged v{banner.version}, quiz required: it counts once you pass the update quiz (due {banner.due_at:%Y-%m-%d %H:%M} UTC)."
    if banner.state == "acknowledged":
        return f"You acknowledged v{banner.version} on {banner.acknowledged_at:%Y-%m-%d}."
    if banner.state == "action_required":
        return (
            f"Action required: acknowledge v{banner.version} by {banner.due_at:%Y-%m-%d %H:%M} UTC. See what changed."
        )
    if banner.state == "overdue":
        return f"Overdue: acknowledge v{banner.version}, due {banner.due_at:%Y-%m-%d %H:%M} UTC. See what changed."
    return ""


@api.route(
    "/coverage",
    summary="Acknowledgement coverage, rolled up (partner managers: their vendor only)",
    query=CoverageQuery,
    responses={200: Coverage},
    errors=(403,),
)
def api_coverage(query: CoverageQuery) -> Coverage:
    user = api_user()
    if user.role not in COVERAGE_ROLES:
        raise ApiError(403, "forbidden", "Coverage is for partner managers, trainers, admins and the LOB lead.")
    groups = list(dict.fromkeys(query.by.split(",")))
    try:
        flt = scoped_filter(query_args(query), user)
    except PermissionError as error:
        raise ApiError(403, "forbidden", str(error)) from None
    rows = reporting.coverage_overview(get_session(), by=groups, now=_now(), flt=flt)
    return Coverage(rows=[CoverageRow.of(r) for r in rows])

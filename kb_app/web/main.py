"""Home page per role, the roster pages, and the health check."""

from __future__ import annotations

import io
from datetime import date, datetime, timezone

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_login import login_required

from kb_app import audit, db, readiness, roster, users
from kb_app.catalog.rendering import site_url
from kb_app.quizzes import certification
from kb_app.services import acknowledging
from kb_app.web.inputs import page_number
from kb_app.web.context import banks, client_ip, get_session, roles_required, settings, signed_in_user

bp = Blueprint("main", __name__)
PAGE_SIZE = 50


@bp.get("/")
@login_required
def home():
    user = signed_in_user()
    session = get_session()
    if user.role == "agent":
        return render_template(
            "main/home_agent.html",
            agent=user.agent,
            audience=users.audience_of(user),
            bulletin_url=site_url,
            **_agent_standing(session, user),
        )
    if user.role == "partner_manager":
        by_site = roster.roster_summary(session, ("site",), vendor=user.vendor)
        by_team = roster.roster_summary(session, ("site", "team"), vendor=user.vendor)
        return render_template(
            "main/home_partner.html",
            vendor=user.vendor,
            by_site=by_site,
            by_team=by_team,
            totals=roster.summary_totals(by_site),
        )
    by_vendor = roster.roster_summary(session, ("vendor",))
    by_vendor_site = roster.roster_summary(session, ("vendor", "site"))
    return render_template(
        "main/home_staff.html",
        by_vendor=by_vendor,
        by_vendor_site=by_vendor_site,
        totals=roster.summary_totals(by_vendor),
        user_counts=users.count_users_by_role(session) if user.role == "admin" else None,
    )


def _agent_standing(session, user) -> dict:
    """What the agent's home page summarises: acknowledgements due and certification standing."""
    if user.agent is None:
        return {"reading": [], "certifications": [], "bulletins": []}
    now = datetime.now(timezone.utc)
    loaded = banks()
    _, view = acknowledging.release_view(session)
    return {
        "bulletins": view.open_bulletins(user.agent, user.agent.tier, now=now),
        "reading": acknowledging.reading_list(session, user.agent, loaded, now=now),
        "certifications": certification.certifications_of(
            session, user.agent, loaded.banks.values(), now=now, due_days=settings().ack_due_days
        ),
    }


def roster_filter_from_args(args, user) -> roster.RosterFilter:
    """Read roster filters from a query string, confined to what `user` may see.

    A partner manager naming another vendor gets 403; trainers and admins may name any.
    """
    try:
        scope = users.roster_vendor_scope(user)
    except PermissionError:
        abort(403)
    vendor = (args.get("vendor") or "").strip().lower() or None
    if scope is not None:
        if vendor is not None and vendor != scope:
            abort(403, description="You can only see your own vendor's roster.")
        vendor = scope
    active_arg = (args.get("active") or "").strip().lower()
    active = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(active_arg)
    tier = (args.get("tier") or "").strip().upper() or None
    return roster.RosterFilter(
        vendor=vendor,
        site=(args.get("site") or "").strip().lower() or None,
        team=(args.get("team") or "").strip() or None,
        tier=tier,
        language=(args.get("language") or "").strip().lower() or None,
        active=active,
        q=(args.get("q") or "").strip()[:100] or None,
    )


@bp.get("/roster")
@roles_required(*users.ROSTER_ROLES)
def roster_page():
    user = signed_in_user()
    where = roster_filter_from_args(request.args, user)
    page = page_number(request.args)
    session = get_session()
    agents, total = roster.list_agents(session, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    scope = users.roster_vendor_scope(user)
    choices = {
        name: roster.distinct_values(session, name, vendor=scope) for name in ("vendor", "site", "team", "language")
    }
    query = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "main/roster.html",
        agents=agents,
        total=total,
        page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        where=where,
        choices=choices,
        scope=scope,
        query=query,
    )


@bp.get("/roster.csv")
@roles_required(*users.ROSTER_ROLES)
def roster_csv():
    user = signed_in_user()
    where = roster_filter_from_args(request.args, user)
    session = get_session()
    out = io.StringIO()
    count = roster.export_roster(session, out, where)
    audit.record(
        session,
        "roster.export",
        actor=user.email,
        actor_user_id=user.id,
        ip=client_ip(),
        details={"rows": count, "vendor": where.vendor},
    )
    session.commit()
    name = f"roster-{where.vendor or 'all'}-{date.today().isoformat()}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/healthz")
def healthz():
    """Liveness: this process answers and reaches the database (one trivial query, nothing else)."""
    try:
        db.ping(current_app.extensions["kb_engine"])
    except Exception:  # noqa: BLE001 - any database failure means unhealthy
        current_app.logger.exception("health check: database unreachable")
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@bp.get("/readyz")
def readyz():
    """Readiness, for a load balancer: 200 only when this node can serve the current release."""
    report = readiness.check(
        current_app.extensions["kb_engine"],
        settings(),
        state=current_app.extensions["kb_shared_state"],
        search=current_app.extensions["kb_search"],
        watcher=current_app.extensions["kb_release_watcher"],
        cache=current_app.extensions.setdefault("kb_readiness_cache", {}),
    )
    return jsonify(report.to_dict()), 200 if report.ready else 503

"""Admin pages: the audit log (with filters and CSV export), the list of users, and the roster's site
settings (name and time zone of each site) and vendor names."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta, timezone

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from kb_app import audit, roster_sites, users
from kb_app.web.inputs import bounded_day, page_number
from kb_app.web.context import client_ip, get_session, roles_required, signed_in_user

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 100


def _day(name: str) -> date | None:
    return bounded_day(request.args, name)


def audit_filter_from_args() -> audit.AuditFilter:
    since, until = _day("since"), _day("until")
    return audit.AuditFilter(
        action=(request.args.get("action") or "").strip() or None,
        actor=(request.args.get("actor") or "").strip()[:254] or None,
        target=(request.args.get("target") or "").strip()[:254] or None,
        since=datetime.combine(since, time.min, timezone.utc) if since else None,
        # `until` is a whole day, inclusive.
        until=datetime.combine(until + timedelta(days=1), time.min, timezone.utc) if until else None,
    )


@bp.get("/audit")
@roles_required("admin")
def audit_log():
    where = audit_filter_from_args()
    page = page_number(request.args)
    session = get_session()
    events, total = audit.list_events(session, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render_template(
        "admin/audit.html",
        events=events,
        total=total,
        page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        actions=audit.recorded_actions(session),
        args=request.args,
        query={k: v for k, v in request.args.items() if k != "page" and v},
    )


@bp.get("/audit.csv")
@roles_required("admin")
def audit_csv():
    where = audit_filter_from_args()
    session = get_session()
    out = io.StringIO()
    count = audit.write_csv(audit.iter_events(session, where), out)
    user = signed_in_user()
    audit.record(
        session, "audit.export", actor=user.email, actor_user_id=user.id, ip=client_ip(), details={"rows": count}
    )
    session.commit()
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-{date.today().isoformat()}.csv"'},
    )


@bp.get("/users")
@roles_required("admin")
def user_list():
    session = get_session()
    return render_template("admin/users.html", users=users.list_users(session), tokens=users.user_tokens(session))


MAX_ROWS = 500  # a form row per site or vendor, and a blank one to add


def _form_rows(prefix: str, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows `prefix-N-field` of the form, in order; rows left wholly blank are not rows."""
    rows = []
    for index in range(MAX_ROWS):
        row = {f: (request.form.get(f"{prefix}-{index}-{f}") or "").strip() for f in fields}
        if any(row.values()):
            rows.append(row)
        elif f"{prefix}-{index}-code" not in request.form:
            break
    return rows


@bp.route("/sites", methods=["GET", "POST"])
@roles_required("admin")
def site_settings():
    session = get_session()
    problems: list[str] = []
    if request.method == "POST":
        sites = _form_rows("site", ("code", "name", "time_zone"))
        vendors = _form_rows("vendor", ("code", "name"))
        user = signed_in_user()
        try:
            counts = roster_sites.save_settings(session, sites, vendors, actor=user.email, actor_user_id=user.id)
        except roster_sites.SettingsRefused as error:
            session.rollback()
            problems = error.problems
            return render_template("admin/sites.html", sites=sites, vendors=vendors, problems=problems), 422
        session.commit()
        flash(f"Saved {counts[0]} sites and {counts[1]} vendors.")
        return redirect(url_for("admin.site_settings"))
    missing_sites, missing_vendors = roster_sites.roster_codes_without_settings(session)
    sites = [vars(s) for s in roster_sites.site_settings(session)]
    sites += [{"code": code, "name": "", "time_zone": ""} for code in missing_sites]
    vendors = [vars(v) for v in roster_sites.vendor_names(session)]
    vendors += [{"code": code, "name": ""} for code in missing_vendors]
    return render_template("admin/sites.html", sites=sites, vendors=vendors, problems=problems)

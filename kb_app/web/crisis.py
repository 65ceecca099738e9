"""The Readiness page and API: ready agents against headcount by vendor, site and team, and each
open bulletin's acknowledgement curve and projection (kb_app.acks.crisis).

For the LOB lead, trainers and admins (every vendor) and partner managers (their own vendor;
naming another is 403). Tier 1 readers never see a Tier 2-only bulletin.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, abort, render_template, request

from kb_app import users
from kb_app.acks import crisis
from kb_app.web.api import api, api_user
from kb_app.web.api_models import Readiness, ReadinessQuery
from kb_app.web.context import banks, get_session, roles_required, signed_in_user
from kb_app.web.contract import query_args
from kb_app.web.errors import ApiError

bp = Blueprint("readiness", __name__)
PAGE_GROUPS = ["vendor", "site", "team"]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def readiness_filter(args, user) -> crisis.ReadinessFilter:
    """Filters from a query string; a partner manager is confined to their vendor.

    Raises PermissionError when a partner manager names another vendor, or the user may not see
    reports at all.
    """
    scope = users.report_vendor_scope(user)
    vendor = (args.get("vendor") or "").strip() or None
    if scope is not None:
        if vendor is not None and vendor != scope:
            raise PermissionError("You can only see your own vendor's readiness.")
        vendor = scope
    return crisis.ReadinessFilter(
        vendor=vendor,
        site=(args.get("site") or "").strip() or None,
        team=(args.get("team") or "").strip() or None,
    )


@bp.get("/readiness")
@roles_required(*users.REPORT_ROLES)
def readiness_page():
    user = signed_in_user()
    try:
        flt = readiness_filter(request.args, user)
    except PermissionError as error:
        abort(403, description=str(error))
    loaded = banks()
    now = _now()
    report = crisis.readiness_report(
        get_session(), by=PAGE_GROUPS, now=now, banks=loaded, flt=flt, tier=users.audience_of(user)
    )
    return render_template(
        "readiness/readiness.html",
        report=report,
        by_vendor=crisis.rollup(report.rows, ["vendor"]),
        by_site=crisis.rollup(report.rows, ["vendor", "site"]),
        flt=flt,
        scope=flt.vendor if user.role == "partner_manager" else None,
        banks_incomplete=not loaded.complete,
        bank_titles={b.id: b.title for b in loaded.banks.values()},
        now=now,
    )


@api.route(
    "/readiness",
    summary="Crisis readiness: ready agents against headcount, and each open bulletin's projection "
    "(partner managers: their vendor only)",
    query=ReadinessQuery,
    responses={200: Readiness},
    errors=(403,),
)
def api_readiness(query: ReadinessQuery) -> Readiness:
    user = api_user()
    try:
        flt = readiness_filter(query_args(query), user)
    except PermissionError as error:
        raise ApiError(403, "forbidden", str(error)) from None
    by = list(dict.fromkeys(query.by.split(",")))
    report = crisis.readiness_report(
        get_session(), by=by, now=_now(), banks=banks(), flt=flt, tier=users.audience_of(user)
    )
    return Readiness.model_validate(report.to_dict())

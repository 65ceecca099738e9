"""The JSON API under /api/v1: bearer tokens for automation, the session cookie for pages.

Errors are `{"error": {"code": ..., "message": ...}}` (see `errors.py`). The OpenAPI document
in `openapi.py` describes every route here; a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from flask_limiter import Limiter
from flask_login import current_user

from kb_app.services import rostering
from kb_app import roster, users
from kb_app.models import Agent, User
from kb_app.problems import InputError
from kb_app.web import openapi
from kb_app.web.context import client_ip, csrf, get_session
from kb_app.web.errors import ApiError
from kb_app.web.main import roster_filter_from_args

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer requests carry no cookie; cookie-authenticated writes are checked below

PUBLIC_ENDPOINTS = {"api.openapi_document"}
MAX_PAGE = 1000


def apply_rate_limits(app: Flask, limiter: Limiter) -> None:
    limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=_rate_key)(bp)


def _rate_key() -> str:
    user_id = g.get("kb_user_id")
    return f"user:{user_id}" if user_id else f"ip:{client_ip()}"


@bp.before_request
def authenticate() -> None:
    """Bearer token if the request has an Authorization header, else the signed-in session."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise ApiError(401, "unauthorized", "Use 'Authorization: Bearer <token>'.")
        session = get_session()
        user = users.user_for_token(session, secret.strip(), ip=client_ip(), path=request.path)
        session.commit()
        if user is None:
            raise ApiError(401, "unauthorized", "The token is unknown, revoked, or its user is inactive.")
        g.api_user = user
        g.kb_user_id = user.id
        return
    if current_user.is_authenticated:
        g.api_user = current_user.user
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
        return
    raise ApiError(401, "unauthorized", "Sign in, or send 'Authorization: Bearer <token>'.")


def api_user() -> User:
    return g.api_user


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "employee_id": agent.employee_id,
        "name": agent.name,
        "email": agent.email,
        "tier": agent.tier,
        "vendor": agent.vendor,
        "site": agent.site,
        "team": agent.team,
        "language": agent.language,
        "manager": agent.manager,
        "start_date": agent.start_date.isoformat(),
        "active": agent.active,
    }


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise ApiError(400, "bad_request", f"{name} must be between {low} and {high}")
    return value


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document())


@bp.get("/me")
def me():
    user = api_user()
    return jsonify(
        {
            "id": user.id,
            "email": user.email,
            "name": user.display_name,
            "role": user.role,
            "vendor": user.vendor,
            "audience": users.audience_of(user),
            "agent": agent_json(user.agent) if user.agent is not None else None,
        }
    )


@bp.get("/roster")
def roster_list():
    where = roster_filter_from_args(request.args, api_user())
    limit = int_arg("limit", 100, 1, MAX_PAGE)
    offset = int_arg("offset", 0, 0, 10**9)
    agents, total = roster.list_agents(get_session(), where, limit=limit, offset=offset)
    return jsonify({"total": total, "limit": limit, "offset": offset, "agents": [agent_json(a) for a in agents]})


@bp.get("/roster/summary")
def roster_summary():
    user = api_user()
    where = roster_filter_from_args(request.args, user)
    by = [part.strip() for part in (request.args.get("by") or "vendor,site").split(",") if part.strip()]
    unknown = [name for name in by if name not in roster.GROUPABLE]
    if unknown or not by or len(by) > 3:
        raise ApiError(400, "bad_request", f"by must name 1 to 3 of: {', '.join(roster.GROUPABLE)}")
    groups = roster.roster_summary(get_session(), by, vendor=where.vendor)
    return jsonify({"by": by, "vendor": where.vendor, "groups": groups, "totals": roster.summary_totals(groups)})


@bp.get("/roster/<employee_id>")
def roster_agent(employee_id: str):
    user = api_user()
    if not users.can_see_roster(user):
        raise ApiError(403, "forbidden", "The roster is for partner managers, trainers and admins.")
    scope = users.roster_vendor_scope(user)
    agent = roster.agent_by_employee_id(get_session(), employee_id)
    # Another vendor's agent looks exactly like a missing one.
    if agent is None or (scope is not None and agent.vendor != scope):
        raise ApiError(404, "not_found", f"No agent {employee_id} on your roster.")
    return jsonify(agent_json(agent))


@bp.post("/roster/import")
def roster_import():
    user = api_user()
    if user.role != "admin":
        raise ApiError(403, "forbidden", "Only admins import the roster.")
    body = request.get_json()
    if not isinstance(body, dict) or not isinstance(body.get("agents"), list):
        raise ApiError(400, "bad_request", 'Send {"agents": [...], "deactivate_missing": false, "dry_run": false}.')
    flags = {}
    for name in ("deactivate_missing", "dry_run"):
        value = body.get(name, False)
        if not isinstance(value, bool):
            raise ApiError(400, "bad_request", f"{name} must be true or false")
        flags[name] = value
    session = get_session()
    try:
        rows = roster.parse_roster_records(body["agents"], path="agents")
        plan = rostering.import_roster(
            session, rows, actor=user.email, actor_user_id=user.id, source="api", ip=client_ip(), **flags
        )
    except InputError as exc:
        session.rollback()
        raise ApiError(
            422,
            "invalid_roster",
            f"{len(exc.problems)} problem(s); nothing was imported.",
            problems=[p.to_dict() for p in exc.problems],
        ) from None
    if flags["dry_run"]:
        session.rollback()
    else:
        session.commit()
    return jsonify({"dry_run": flags["dry_run"], **plan.to_dict(detail_limit=1000)})

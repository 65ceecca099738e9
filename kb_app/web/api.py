"""The JSON API under /api/v1: bearer tokens for automation, the session cookie for pages.

Errors are `{"error": {"code": ..., "message": ...}}` (see `errors.py`). Every route is declared
on `api` (a `kb_app.web.contract.Contract`) with its pydantic models, which validate the
request, serialise the answer and generate `/api/v1/openapi.json`.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, request
from flask_limiter import Limiter
from flask_login import current_user

from kb_app import __version__, roster, users
from kb_app.models import User
from kb_app.services import rostering
from kb_app.problems import InputError
from kb_app.web.api_models import (
    Agent,
    ImportResult,
    Me,
    OpenApiDocument,
    Problem,
    RosterImport,
    RosterPage,
    RosterQuery,
    RosterSummary,
    RosterSummaryQuery,
)
from kb_app.web.contract import Contract, query_args
from kb_app.web.context import client_ip, csrf, get_session
from kb_app.web.errors import ApiError
from kb_app.web.main import roster_filter_from_args

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # bearer requests carry no cookie; cookie-authenticated writes are checked below

api = Contract(
    bp,
    title="Account Security knowledge base API",
    version=__version__,
    description='Errors are JSON: {"error": {"code": ..., "message": ...}}. Generated from the code.',
)
PUBLIC_ENDPOINTS = {"api.openapi_document"}


def apply_rate_limits(app: Flask, limiter: Limiter) -> None:
    limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=rate_key)(bp)


def rate_key() -> str:
    """Per user once the request is authenticated (a BPO site puts hundreds of agents behind one
    address, and one busy token must not lock them all out); per address before that."""
    user, _ = _identify()
    return f"user:{user.id}" if user is not None else f"ip:{client_ip()}"


def _identify() -> tuple[User | None, ApiError | None]:
    """Who the request is, once per request: the limiter asks first, `authenticate` enforces."""
    if "kb_api_identity" in g:
        return g.kb_api_identity
    found: tuple[User | None, ApiError | None]
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            found = None, ApiError(401, "unauthorized", "Use 'Authorization: Bearer <token>'.")
        else:
            session = get_session()
            user = users.user_for_token(session, secret.strip(), ip=client_ip(), path=request.path)
            if users.use_to_commit(session):
                session.commit()
            found = (
                (user, None)
                if user is not None
                else (None, ApiError(401, "unauthorized", "The token is unknown, revoked, or its user is inactive."))
            )
    elif current_user.is_authenticated:
        found = current_user.user, None
    else:
        found = None, ApiError(401, "unauthorized", "Sign in, or send 'Authorization: Bearer <token>'.")
    if found[0] is not None:
        g.kb_user_id = found[0].id
    g.kb_api_identity = found
    return found


def identified_user() -> User | None:
    """Who an API request is (bearer token or session), or None; for rate-limit keys."""
    return _identify()[0]


@bp.before_request
def authenticate() -> None:
    """Bearer token if the request has an Authorization header, else the signed-in session."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    user, error = _identify()
    if error is not None:
        raise error
    g.api_user = user
    if request.headers.get("Authorization") is None and request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


def api_user() -> User:
    return g.api_user


def _document() -> dict:
    found = current_app.extensions.get("kb_openapi")
    if found is None:
        found = current_app.extensions["kb_openapi"] = api.document()
    return found


@api.route("/openapi.json", summary="This document", responses={200: OpenApiDocument}, public=True)
def openapi_document() -> OpenApiDocument:
    return OpenApiDocument.model_validate(_document())


@api.route("/me", summary="The signed-in user or token owner", responses={200: Me})
def me() -> Me:
    user = api_user()
    return Me.model_validate(
        {
            "id": user.id,
            "email": user.email,
            "name": user.display_name,
            "role": user.role,
            "vendor": user.vendor,
            "audience": users.audience_of(user),
            "agent": Agent.of(user.agent) if user.agent is not None else None,
        }
    )


@api.route(
    "/roster",
    summary="Roster entries, a page at a time (partner managers: their vendor only)",
    query=RosterQuery,
    responses={200: RosterPage},
    errors=(403,),
)
def roster_list(query: RosterQuery) -> RosterPage:
    where = roster_filter_from_args(query_args(query), api_user())
    agents, total = roster.list_agents(get_session(), where, limit=query.limit, offset=query.offset)
    return RosterPage(total=total, limit=query.limit, offset=query.offset, agents=[Agent.of(a) for a in agents])


@api.route(
    "/roster/summary",
    summary="Agent counts per group, computed in the database",
    query=RosterSummaryQuery,
    responses={200: RosterSummary},
    errors=(403,),
)
def roster_summary(query: RosterSummaryQuery) -> RosterSummary:
    user = api_user()
    where = roster_filter_from_args(query_args(query), user)
    by = list(dict.fromkeys(query.by.split(",")))
    groups = roster.roster_summary(get_session(), by, vendor=where.vendor)
    return RosterSummary.model_validate(
        {"by": by, "vendor": where.vendor, "groups": groups, "totals": roster.summary_totals(groups)}
    )


@api.route(
    "/roster/<employee_id>",
    summary="One roster entry (404 when it is not on your vendor's roster)",
    responses={200: Agent},
    errors=(403, 404),
)
def roster_agent(employee_id: str) -> Agent:
    user = api_user()
    if not users.can_see_roster(user):
        raise ApiError(403, "forbidden", "The roster is for partner managers, trainers and admins.")
    scope = users.roster_vendor_scope(user)
    agent = roster.agent_by_employee_id(get_session(), employee_id) if len(employee_id) <= 64 else None
    # Another vendor's agent looks exactly like a missing one.
    if agent is None or (scope is not None and agent.vendor != scope):
        raise ApiError(404, "not_found", f"No agent {employee_id[:64]} on your roster.")
    return Agent.of(agent)


@api.route(
    "/roster/import",
    "POST",
    summary="Upsert roster entries by employee id, all or nothing (admins)",
    body=RosterImport,
    responses={200: ImportResult},
    errors=(403, 422),
)
def roster_import(body: RosterImport) -> ImportResult:
    user = api_user()
    if user.role != "admin":
        raise ApiError(403, "forbidden", "Only admins import the roster.")
    session = get_session()
    try:
        rows = roster.parse_roster_records(body.agents, path="agents")
        plan = rostering.import_roster(
            session,
            rows,
            actor=user.email,
            actor_user_id=user.id,
            source="api",
            ip=client_ip(),
            deactivate_missing=body.deactivate_missing,
            dry_run=body.dry_run,
        )
    except InputError as exc:
        session.rollback()
        raise ApiError(
            422,
            "invalid_roster",
            f"{len(exc.problems)} problem(s); nothing was imported.",
            problems=[Problem.of(p).model_dump() for p in exc.problems],
        ) from None
    if body.dry_run:
        session.rollback()
    else:
        session.commit()
    return ImportResult.of(plan, dry_run=body.dry_run, detail_limit=1000)

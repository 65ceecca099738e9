"""Quiz pages and API: agents take certification and update quizzes and see their
certifications; trainers and partner managers see banks, item analysis and certification
coverage (partner managers for their own vendor only; another vendor in a URL is 403).

Routes parse input, call one core function (`kb_app.quizzes.attempts`, `kb_app.quizzes.certification`,
`kb_app.quizzes.reports`) and render. Taker pages and API answers never carry answer keys,
explanations or sources before submission: they render `attempts.taker()` only.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from kb_app import audit, users
from kb_app.acks import gates
from kb_app.versions import latest_versions
from kb_app.models.quizzes import QuizBankSnapshot
from kb_app.quizzes import attempts, certification, remediation
from kb_app.quizzes import reports as quiz_reports
from kb_app.quizzes.attempts import AttemptError
from kb_app.quizzes.grading import SubmissionError, parse_number
from kb_app.quizzes.library import bank_from_data
from kb_app.services import quizzing
from kb_app.web.api import api, api_user
from kb_app.web.api_models import (
    AttemptPath,
    AttemptView,
    QuizBank,
    Certification,
    MyCertifications,
    PendingQuiz,
    QuizAttemptTaker,
    QuizBankList,
    QuizResult,
    QuizStart,
    QuizSubmit,
)
from kb_app.web.context import banks, get_session, roles_required, settings, signed_in_user
from kb_app.web.downloads import csv_download
from kb_app.web.errors import ApiError
from kb_app.web.sites import reading_language

bp = Blueprint("quizzes", __name__)
REPORT_ROLES = users.REPORT_ROLES
MAX_SUBMIT_BYTES = 64 * 1024  # a full attempt's answers are a few kilobytes
COVERAGE_GROUPS = ["vendor,site", "vendor", "site", "team", "team_leader", "language", "site,team"]

LIMITED_ENDPOINTS = {"quizzes.submit", "quizzes.start", "api.quiz_submit", "api.quiz_start"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _limit_body() -> None:
    if request.endpoint in LIMITED_ENDPOINTS:
        request.max_content_length = MAX_SUBMIT_BYTES


@bp.record_once
def _limit_before_the_body_is_read(state) -> None:
    # First in line: the CSRF check reads the form, and the limit must apply before that.
    state.app.before_request_funcs.setdefault(None, []).insert(0, _limit_body)


@bp.app_context_processor
def _gate_notices() -> dict[str, Any]:
    """`quiz_gate_notices()` for base.html: acknowledgements waiting for an update quiz, shown
    on the reading list and on the what-changed page."""

    def notices() -> list[gates.PendingQuiz]:
        if request.endpoint not in ("acks.reading_list", "acks.read"):
            return []
        if not current_user.is_authenticated or current_user.role != "agent" or current_user.agent is None:
            return []
        sop_id = (request.view_args or {}).get("sop_id")
        pending = gates.pending_quizzes(get_session(), current_user.agent, sop_id)
        return [p for p in pending.values() if p.acknowledged_at is not None]

    return {"quiz_gate_notices": notices}


_CODE_SPAN = re.compile(r"`([^`\n]{1,80})`")


@bp.app_template_filter("quiz_text")
def quiz_text(text: str) -> Markup:
    """Question text as authored: escaped, with `field_names` shown as code."""
    escaped = str(escape(text or ""))
    return Markup(_CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", escaped))


def _agent():
    user = signed_in_user()
    if user.role != "agent" or user.agent is None:
        abort(404)
    return user, user.agent


def visible_bank(bank_id: str, user):
    """The bank, or None when it is unknown or its tier is not the reader's: a Tier 1 reader
    gets the same answer for a Tier 2 bank as for one that does not exist."""
    bank = banks().get(bank_id)
    if bank is None or not attempts.visible_to(bank, users.audience_of(user)):
        return None
    return bank


def visible_banks(user) -> list:
    tier = users.audience_of(user)
    return [b for b in banks().banks.values() if attempts.visible_to(b, tier)]


def _bank_or_404(bank_id: str):
    bank = visible_bank(bank_id, signed_in_user())
    if bank is None:
        abort(404)
    return bank


def _due_days() -> int:
    return settings().ack_due_days


def _section_links() -> dict[str, str]:
    return {sop_id: version.path for sop_id, version in latest_versions(get_session()).items()}


def section_url(paths: dict[str, str], source: str) -> str | None:
    sop_id, _, anchor = source.partition("#")
    return quiz_reports.section_url(paths.get(sop_id), anchor)


# --- agents: my quizzes, take, result -----------------------------------------------------------


@bp.get("/quizzes")
@roles_required("agent")
def my_quizzes():
    user, agent = _agent()
    session = get_session()
    now = _now()
    loaded = banks()
    rows = attempts.standings(session, agent, loaded.banks.values(), now=now)
    session.commit()  # standings closes attempts whose time ran out
    pending = gates.pending_quizzes(session, agent)
    required = {bank_id for p in pending.values() for bank_id in p.bank_ids}
    return render_template(
        "quizzes/my_quizzes.html",
        certifications=certification.certifications_of(
            session, agent, loaded.banks.values(), now=now, due_days=_due_days()
        ),
        certification_rows=[r for r in rows if r.bank.kind == "certification"],
        update_rows=sorted(
            (r for r in rows if r.bank.kind == "update"), key=lambda r: (r.bank.id not in required, r.bank.sops[0])
        ),
        required=required,
        pending=pending,
        recent=attempts.attempts_of(session, agent.id, limit=10),
        titles={b.id: b.title for b in loaded.banks.values()},
        now=now,
    )


@bp.post("/quizzes/<bank_id>/start")
@roles_required("agent")
def start(bank_id: str):
    user, _ = _agent()
    bank = _bank_or_404(bank_id)
    session = get_session()
    try:
        result = quizzing.start_quiz(session, user, bank, banks(), now=_now())
    except AttemptError as error:
        session.rollback()
        if error.status == 404:
            abort(404)
        flash(error.message, "error")
        return redirect(url_for("quizzes.my_quizzes"))
    session.commit()
    return redirect(url_for("quizzes.attempt_page", attempt_id=result.attempt.public_id), 303)


def _own_attempt(attempt_id: str):
    user = signed_in_user()
    session = get_session()
    try:
        attempt = attempts.attempt_for(session, user, attempt_id)
    except AttemptError as error:
        abort(404 if error.status in (400, 404) else error.status)
    attempts.refresh(session, attempt, now=_now())
    session.commit()
    return user, attempt


@bp.get("/quizzes/attempts/<attempt_id>")
@roles_required("agent")
def attempt_page(attempt_id: str):
    _, attempt = _own_attempt(attempt_id)
    session = get_session()
    if attempt.status == "open":
        view = quizzing.taker_in_language(
            session, attempt, now=_now(), quiz_dir=settings().quiz_dir, language=reading_language(signed_in_user())
        )
        return render_template("quizzes/take.html", view=view, values={}, problems={})
    return _result_page(attempt)


def _result_page(attempt):
    session = get_session()
    paths = _section_links()
    view = attempts.result_view(session, attempt)
    for item in view["questions"]:
        item["url"] = section_url(paths, item["source"])
    task = remediation.task_for_attempt(session, attempt.id)
    return render_template("quizzes/result.html", view=view, attempt=attempt, remediation_task=task)


_ORDER_FIELD = re.compile(r"^(q\d{1,3})\.([a-z]|\d{1,2})$")
_QUESTION_FIELD = re.compile(r"^q\d{1,6}$")


def submission_from_form(form, view: dict) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as a submission in the taker's labels, plus problems an agent can fix (two
    ordering items given the same position). Fields for questions not in the attempt are
    passed on, so that the core refuses them like the API does."""
    submission: dict[str, Any] = {}
    problems: dict[str, str] = {}
    keys = set()
    for question in view["questions"]:
        key = question["key"]
        keys.add(key)
        kind = question["type"]
        if kind == "single":
            submission[key] = form.get(key) or None
        elif kind == "multiple":
            submission[key] = form.getlist(key) or None
        elif kind == "true_false":
            raw = form.get(key)
            submission[key] = {"true": True, "false": False}.get(raw, raw) if raw else None
        elif kind == "short_answer":
            submission[key] = (form.get(key) or "").strip() or None
        elif kind == "ordering":
            labels = [item["id"] for item in question["items"]]
            positions = {}
            for label in labels:
                raw = form.get(f"{key}.{label}", "")
                positions[label] = int(raw) if raw.isdigit() else None
            if any(p is None for p in positions.values()):
                submission[key] = None
            elif sorted(positions.values()) != list(range(1, len(labels) + 1)):
                problems[key] = (
                    f"Question {question['number']}: give each item a different position from 1 to {len(labels)}."
                )
                submission[key] = None
            else:
                submission[key] = sorted(labels, key=lambda label: positions[label])
        elif kind == "matching":
            matched = {p["id"]: form.get(f"{key}.{p['id']}") for p in question["prompts"]}
            submission[key] = {p: c for p, c in matched.items() if c} or None
        elif kind == "numerical":
            raw = (form.get(key) or "").strip()
            try:
                parse_number(raw, key) if raw else None
            except SubmissionError:
                problems[key] = f"Question {question['number']}: enter a number, such as 4 or 4.5."
            submission[key] = raw or None
    for name in form:
        match = _ORDER_FIELD.match(name)
        base = match.group(1) if match else name
        if _QUESTION_FIELD.match(base) and base not in keys:
            submission[name] = form.get(name)
    return {k: v for k, v in submission.items() if v is not None}, problems


@bp.post("/quizzes/attempts/<attempt_id>")
@roles_required("agent")
def submit(attempt_id: str):
    user, attempt = _own_attempt(attempt_id)
    session = get_session()
    if attempt.status != "open":
        flash(
            "This attempt was already submitted."
            if attempt.status == "submitted"
            else "The time limit ended before you submitted.",
            "error",
        )
        return redirect(url_for("quizzes.attempt_page", attempt_id=attempt.public_id), 303)
    now = _now()
    view = quizzing.taker_in_language(
        session, attempt, now=now, quiz_dir=settings().quiz_dir, language=reading_language(user)
    )
    submission, problems = submission_from_form(request.form, view)
    flagged = request.form.getlist("flagged")
    if problems:
        return render_template("quizzes/take.html", view=view, values=request.form, problems=problems), 422
    summary = attempts.submission_summary(attempt, submission, flagged)
    if request.form.get("step") == "review":
        # Without JavaScript the confirm step is this page: the answers kept, the summary on top.
        return render_template("quizzes/take.html", view=view, values=request.form, problems={}, summary=summary)
    try:
        quizzing.submit_quiz(session, user, attempt.public_id, submission, banks(), now=now)
    except AttemptError as error:
        session.rollback()
        if error.code in ("already_submitted", "time_limit_passed"):
            flash(error.message, "error")
            return redirect(url_for("quizzes.attempt_page", attempt_id=attempt.public_id), 303)
        if error.code == "empty_submission":
            return render_template(
                "quizzes/take.html", view=view, values=request.form, problems={}, summary=summary, refused=error.message
            ), 422
        abort(error.status, description=error.message)
    session.commit()
    return redirect(url_for("quizzes.attempt_page", attempt_id=attempt.public_id), 303)


# --- trainers and partner managers --------------------------------------------------------------


def report_filter(args, user) -> quiz_reports.ReportFilter:
    """Filters from a query string; a partner manager is confined to their vendor (else 403)."""
    vendor = (args.get("vendor") or "").strip() or None
    if user.role == "partner_manager":
        if vendor is not None and vendor != user.vendor:
            raise PermissionError("You can only see your own vendor's quiz results.")
        vendor = user.vendor
    return quiz_reports.ReportFilter(
        vendor=vendor,
        site=(args.get("site") or "").strip() or None,
        team=(args.get("team") or "").strip() or None,
        language=(args.get("language") or "").strip() or None,
    )


def _page_filter():
    user = signed_in_user()
    try:
        return user, report_filter(request.args, user)
    except PermissionError as error:
        abort(403, description=str(error))


def _report_bank(bank_id: str):
    """The bank as on disk, or as last taken when its file is gone (404 for a bank the reader's
    tier may not know about)."""
    tier = users.audience_of(signed_in_user())
    bank = banks().get(bank_id)
    if bank is not None:
        if not attempts.visible_to(bank, tier):
            abort(404)
        return bank
    snapshot = (
        get_session()
        .query(QuizBankSnapshot)
        .filter_by(bank_id=bank_id)
        .order_by(QuizBankSnapshot.first_seen_at.desc())
        .first()
    )
    if snapshot is None or not attempts.visible_to(snapshot, tier):
        abort(404)
    return bank_from_data(snapshot.bank_hash, snapshot.data)


@bp.get("/quizzes/banks")
@roles_required(*REPORT_ROLES)
def banks_page():
    user, flt = _page_filter()
    session = get_session()
    loaded = banks()
    rates = {r.group["bank_id"]: r for r in quiz_reports.pass_rates(session, by=[], flt=flt)}
    return render_template(
        "quizzes/banks.html",
        banks=sorted(visible_banks(user), key=lambda b: (b.kind != "certification", b.tier, b.id)),
        rates=rates,
        problems=[p for p in loaded.problems if p.is_error] if user.role in ("trainer", "admin") else [],
        decisions=gates.gate_decisions(session) if user.role in ("trainer", "admin") else [],
        scope=flt.vendor if user.role == "partner_manager" else None,
    )


def _analysis_args():
    by = request.args.get("by") or None
    if by not in (None, *quiz_reports.ANALYSIS_GROUPS):
        abort(400, description="Group item analysis by vendor or language.")
    return by


@bp.get("/quizzes/banks/<bank_id>/analysis")
@roles_required(*REPORT_ROLES)
def analysis_page(bank_id: str):
    user, flt = _page_filter()
    bank = _report_bank(bank_id)
    by = _analysis_args()
    session = get_session()
    [overall] = quiz_reports.item_analysis(session, bank, flt=flt) or [None]
    groups = quiz_reports.item_analysis(session, bank, flt=flt, by=by) if by else []
    return render_template(
        "quizzes/analysis.html",
        bank=bank,
        analysis=overall,
        groups=groups,
        by=by,
        flt=flt,
        scope=flt.vendor if user.role == "partner_manager" else None,
        query={k: v for k, v in request.args.items() if v},
        thresholds={
            "easy": quiz_reports.TOO_EASY,
            "hard": quiz_reports.TOO_HARD,
            "discrimination": quiz_reports.LOW_DISCRIMINATION,
        },
        few=quiz_reports.FEW_ANSWERS,
        remediation=remediation.outcomes(session, bank.id, vendor=flt.vendor),
    )


@bp.get("/quizzes/banks/<bank_id>/analysis.csv")
@roles_required(*REPORT_ROLES)
def analysis_csv(bank_id: str):
    user, flt = _page_filter()
    bank = _report_bank(bank_id)
    by = _analysis_args()
    analyses = quiz_reports.item_analysis(get_session(), bank, flt=flt, by=by)
    group_names = [by] if by else []
    rows = []
    base = request.host_url.rstrip("/")
    for analysis in analyses:
        for item in analysis.items:
            data = item.to_dict()
            data["flags"] = " ".join(data["flags"])
            data["url"] = base + data["url"] if data["url"] else ""
            rows.append(
                {
                    **{g: analysis.group.get(g) for g in group_names},
                    **{c: data[c] for c in quiz_reports.ITEM_ANALYSIS_COLUMNS},
                }
            )
    _audit("quiz.analysis_export", user, {"bank": bank.id, "vendor": flt.vendor, "rows": len(rows)})
    return csv_download(
        group_names + quiz_reports.ITEM_ANALYSIS_COLUMNS,
        rows,
        f"item-analysis-{bank.id}-{flt.vendor or 'all'}-{date.today().isoformat()}.csv",
    )


def _coverage_args():
    certification_banks = sorted(
        (b for b in visible_banks(signed_in_user()) if b.kind == "certification"), key=lambda b: (b.tier, b.id)
    )
    bank_id = request.args.get("bank") or (certification_banks[0].id if certification_banks else None)
    if bank_id is None:
        return certification_banks, None, []
    bank = _report_bank(bank_id)
    if bank.kind != "certification":
        abort(400, description="Certification coverage is for certification banks.")
    groups = [g for g in (request.args.get("by") or "vendor,site").split(",") if g]
    if not groups or any(g not in quiz_reports.DIMENSIONS for g in groups):
        abort(400, description=f"Group by one or more of: {', '.join(quiz_reports.DIMENSIONS)}.")
    return certification_banks, bank, groups


@bp.get("/quizzes/certifications")
@roles_required(*REPORT_ROLES)
def coverage_page():
    user, flt = _page_filter()
    certification_banks, bank, groups = _coverage_args()
    session = get_session()
    rows, totals = [], None
    if bank is not None:
        now = _now()
        rows = quiz_reports.certification_coverage(session, bank, by=groups, now=now, due_days=_due_days(), flt=flt)
        [totals] = quiz_reports.certification_coverage(
            session, bank, by=[], now=now, due_days=_due_days(), flt=flt
        ) or [None]
    return render_template(
        "quizzes/coverage.html",
        certification_banks=certification_banks,
        bank=bank,
        groups=groups,
        group_choices=COVERAGE_GROUPS,
        rows=rows,
        totals=totals,
        rates=quiz_reports.pass_rates(session, by=["vendor"], flt=flt, bank_id=bank.id) if bank else [],
        scope=flt.vendor if user.role == "partner_manager" else None,
        query={k: v for k, v in request.args.items() if v},
    )


COVERAGE_COLUMNS = [
    "population",
    "certified",
    "certified_pct",
    "valid",
    "expiring",
    "recertification_due",
    "recertification_overdue",
    "expired",
    "never",
]


@bp.get("/quizzes/certifications.csv")
@roles_required(*REPORT_ROLES)
def coverage_csv():
    user, flt = _page_filter()
    _, bank, groups = _coverage_args()
    if bank is None:
        abort(404)
    rows = [
        r.to_dict()
        for r in quiz_reports.certification_coverage(
            get_session(), bank, by=groups, now=_now(), due_days=_due_days(), flt=flt
        )
    ]
    _audit("quiz.coverage_export", user, {"bank": bank.id, "vendor": flt.vendor, "rows": len(rows)})
    return csv_download(
        groups + COVERAGE_COLUMNS, rows, f"certification-{bank.id}-{flt.vendor or 'all'}-{date.today().isoformat()}.csv"
    )


def _audit(action: str, user, details: dict) -> None:

    audit.record(get_session(), action, actor=user.email, actor_user_id=user.id, details=details)
    get_session().commit()


# --- JSON API -------------------------------------------------------------------------------------


def _api_error(error: AttemptError) -> ApiError:
    return ApiError(error.status, error.code, error.message, **error.extra)


def _attempt_view(session, attempt, now):
    if attempt.status == "open":
        return QuizAttemptTaker.of(attempts.taker(session, attempt, now=now))
    return QuizResult.of(attempts.result_view(session, attempt))


@api.route(
    "/quiz-banks",
    summary="Quiz banks: for an agent, those they may take, with when they may start each; for staff, every bank",
    responses={200: QuizBankList},
    errors=(403,),
)
def quiz_banks() -> QuizBankList:
    user = api_user()
    loaded = banks()
    session = get_session()
    if user.role == "agent" and user.agent is not None:
        rows = attempts.standings(session, user.agent, loaded.banks.values(), now=_now())
        session.commit()
        return QuizBankList(banks=[QuizBank.of(r.bank, r) for r in rows])
    if user.role not in REPORT_ROLES:
        raise ApiError(
            403, "forbidden", "Quiz banks are for agents, partner managers, trainers, admins and the LOB lead."
        )
    return QuizBankList(banks=[QuizBank.of(b) for b in sorted(visible_banks(user), key=lambda b: b.id)])


@api.route(
    "/quiz-attempts",
    "POST",
    summary="Start an attempt (the server draws the questions), or resume the open one",
    description="Refusals: 404 unknown_bank; 403 not_an_agent, inactive, tier_not_allowed; "
    "429 cooldown or attempt_limit (with available_at). The answer holds no answer keys, explanations or sources.",
    body=QuizStart,
    responses={201: QuizAttemptTaker, 200: QuizAttemptTaker},
    errors=(403, 404, 409),
)
def quiz_start(body: QuizStart):
    user = api_user()
    bank = visible_bank(body.bank_id, user)
    if bank is None:
        raise ApiError(404, "unknown_bank", f"No quiz bank {body.bank_id!r}.")
    session = get_session()
    now = _now()
    try:
        result = quizzing.start_quiz(session, user, bank, banks(), now=now)
    except AttemptError as error:
        session.rollback()
        raise _api_error(error) from None
    session.commit()
    view = QuizAttemptTaker.of(attempts.taker(session, result.attempt, now=now), created=result.created)
    return view, 201 if result.created else 200


@api.route(
    "/quiz-attempts/<attempt_id>",
    summary="One of your attempts: the taker view while open, the result and review once finished",
    path=AttemptPath,
    responses={200: AttemptView},
    errors=(403, 404),
    invalid_path=(400, "bad_attempt_id"),
)
def quiz_attempt(attempt_id: str):
    user = api_user()
    session = get_session()
    now = _now()
    try:
        attempt = attempts.attempt_for(session, user, attempt_id)
    except AttemptError as error:
        raise _api_error(error) from None
    attempts.refresh(session, attempt, now=now)
    session.commit()
    return _attempt_view(session, attempt, now)


@api.route(
    "/quiz-attempts/<attempt_id>/submit",
    "POST",
    summary="Submit the answers; graded on the server, once",
    description="Refusals: 403 not_your_attempt; 404 attempt_not_found; 409 already_submitted or "
    "time_limit_passed; 413 payload_too_large (over 64 KiB); 422 invalid_answers (a question not in the attempt, "
    "an unknown option, a wrong shape), 422 empty_submission (no question answered: nothing is graded, the attempt "
    "stays open and no cool-down starts).",
    path=AttemptPath,
    body=QuizSubmit,
    responses={200: QuizResult},
    errors=(403, 404, 409, 422),
    invalid_path=(400, "bad_attempt_id"),
    invalid_body=(422, "invalid_answers"),
)
def quiz_submit(attempt_id: str, body: QuizSubmit) -> QuizResult:
    user = api_user()
    session = get_session()
    try:
        result = quizzing.submit_quiz(session, user, attempt_id, body.answers, banks(), now=_now())
    except AttemptError as error:
        session.rollback()
        raise _api_error(error) from None
    session.commit()
    return QuizResult.of(attempts.result_view(session, result.attempt))


@api.route(
    "/me/certifications",
    summary="Your certifications (valid, expiring, recertification due, expired, none) and the update quizzes "
    "your acknowledgements wait for",
    responses={200: MyCertifications},
    errors=(403,),
)
def my_certifications() -> MyCertifications:
    user = api_user()
    if user.role != "agent" or user.agent is None:
        raise ApiError(403, "forbidden", "Only agents hold certifications.")
    session = get_session()
    statuses = certification.certifications_of(
        session, user.agent, banks().banks.values(), now=_now(), due_days=_due_days()
    )
    pending = gates.pending_quizzes(session, user.agent)
    return MyCertifications(
        certifications=[Certification.of(s) for s in statuses],
        update_quizzes_required=[
            PendingQuiz(
                sop_id=p.sop_id,
                version=p.version,
                bank_ids=p.bank_ids,
                due_at=p.due_at,
                acknowledged_at=p.acknowledged_at,
            )
            for p in pending.values()
        ],
    )

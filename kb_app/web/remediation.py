"""Remediation pages and API: an agent re-reads the sections a failed quiz missed (a reading task on
their reading list); trainers and partner managers see who is in remediation (partner managers
their own vendor only).

Routes parse input, call `kb_app.quizzes.remediation` (marking a section read through
`kb_app.services.acknowledging`, which keeps the reading list current) and render.
"""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from kb_app import audit, users
from kb_app.quizzes import remediation
from kb_app.quizzes.remediation import RemediationError
from kb_app.services import acknowledging
from kb_app.web.acks import render_markdown, site_url
from kb_app.web.api import api, api_user
from kb_app.web.api_models import (
    InRemediationList,
    InRemediationOut,
    RemediationPath,
    RemediationTask,
    RemediationTasks,
    WhoQuery,
)
from kb_app.web.context import banks, get_session, roles_required, signed_in_user
from kb_app.web.downloads import csv_download
from kb_app.web.errors import ApiError
from kb_app.web.quizzes import visible_banks

bp = Blueprint("remediation", __name__)
REPORT_ROLES = users.REPORT_ROLES


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _agent():
    user = signed_in_user()
    if user.role != "agent" or user.agent is None:
        abort(404)
    return user.agent


def bank_titles(user=None) -> dict[str, str]:
    """Titles of the banks the reader's tier may know about (all of them without a reader)."""
    found = visible_banks(user) if user is not None else banks().banks.values()
    return {b.id: b.title for b in found}


# --- agents -------------------------------------------------------------------------------------


@bp.get("/reading-list/quiz-review/<int(max=2147483647):task_id>")
@roles_required("agent")
def task_page(task_id: int):
    agent = _agent()
    session = get_session()
    try:
        task = remediation.task_of(session, agent, task_id)
    except RemediationError:
        abort(404)
    sections = remediation.section_texts(session, agent, task)
    return render_template(
        "quizzes/remediation_task.html",
        task=task,
        sections=[
            {
                "entry": entry,
                "html": render_markdown(entry.text, entry.path) if entry.text and entry.path else None,
                "url": site_url(entry.path, entry.section.anchor) if entry.path else None,
            }
            for entry in sections
        ],
        title=bank_titles().get(task.bank_id, task.bank_id),
    )


@bp.post("/reading-list/quiz-review/<int(max=2147483647):task_id>/sections/<int(max=2147483647):section_id>/read")
@roles_required("agent")
def mark_read(task_id: int, section_id: int):
    agent = _agent()
    session = get_session()
    try:
        task = acknowledging.mark_section_read(session, agent, task_id, section_id, now=_now())
    except RemediationError:
        session.rollback()
        abort(404)
    session.commit()
    if task.read_at is not None:
        flash("You have read every section you missed: you can retry the quiz now.", "ok")
        return redirect(url_for("quizzes.my_quizzes"), 303)
    return redirect(url_for("remediation.task_page", task_id=task_id) + f"#section-{section_id}", 303)


# --- trainers and partner managers -------------------------------------------------------------------


def _scope() -> str | None:
    user = signed_in_user()
    vendor = (request.args.get("vendor") or "").strip() or None
    if user.role == "partner_manager":
        if vendor is not None and vendor != user.vendor:
            abort(403, description="You can only see your own vendor's agents.")
        return user.vendor
    return vendor


@bp.get("/quizzes/remediation")
@roles_required(*REPORT_ROLES)
def who_page():
    vendor = _scope()
    bank_id = (request.args.get("bank") or "").strip() or None
    rows = remediation.open_tasks(get_session(), vendor=vendor, bank_id=bank_id)
    return render_template(
        "quizzes/remediation.html",
        rows=rows,
        titles=bank_titles(signed_in_user()),
        vendor=vendor,
        bank_id=bank_id,
        scoped=signed_in_user().role == "partner_manager",
    )


CSV_COLUMNS = [
    "employee_id",
    "name",
    "vendor",
    "site",
    "team",
    "bank_id",
    "kind",
    "since",
    "sections",
    "sections_read",
    "status",
]


@bp.get("/quizzes/remediation.csv")
@roles_required(*REPORT_ROLES)
def who_csv():
    vendor = _scope()
    session = get_session()
    rows = [r.to_dict() for r in remediation.open_tasks(session, vendor=vendor)]
    user = signed_in_user()
    audit.record(
        session,
        "quiz.remediation_export",
        actor=user.email,
        actor_user_id=user.id,
        details={"vendor": vendor, "rows": len(rows)},
    )
    session.commit()
    return csv_download(CSV_COLUMNS, rows, f"remediation-{vendor or 'all'}-{_now():%Y-%m-%d}.csv")


# --- JSON API --------------------------------------------------------------------------------------------


def _api_agent():
    user = api_user()
    if user.role != "agent" or user.agent is None:
        raise ApiError(403, "forbidden", "Only agents have reading tasks.")
    return user.agent


@api.route(
    "/me/remediation",
    summary="Your reading tasks after failed quizzes: the sections to re-read before the retry",
    responses={200: RemediationTasks},
    errors=(403,),
)
def api_my_tasks() -> RemediationTasks:
    agent = _api_agent()
    titles = bank_titles()
    return RemediationTasks(tasks=[RemediationTask.of(t, titles) for t in remediation.tasks_of(get_session(), agent)])


@api.route(
    "/me/remediation/<task_id>/sections/<section_id>/read",
    "POST",
    summary="Mark a section of a reading task read",
    path=RemediationPath,
    responses={200: RemediationTask},
    errors=(403, 404, 409),
    invalid_path=(404, "not_found"),
)
def api_mark_read(task_id: int, section_id: int) -> RemediationTask:
    agent = _api_agent()
    session = get_session()
    try:
        task = acknowledging.mark_section_read(session, agent, task_id, section_id, now=_now())
    except RemediationError as error:
        session.rollback()
        raise ApiError(error.status, error.code, error.message) from None
    session.commit()
    return RemediationTask.of(task, bank_titles())


@api.route(
    "/quiz-remediation",
    summary="Who is in remediation (partner managers: their own vendor only)",
    query=WhoQuery,
    responses={200: InRemediationList},
    errors=(403,),
)
def api_who(query: WhoQuery) -> InRemediationList:
    user = api_user()
    if user.role not in REPORT_ROLES:
        raise ApiError(403, "forbidden", "Remediation is for partner managers, trainers, admins and the LOB lead.")
    vendor = query.vendor
    if user.role == "partner_manager":
        if vendor is not None and vendor != user.vendor:
            raise ApiError(403, "forbidden", "You can only see your own vendor's agents.")
        vendor = user.vendor
    rows = remediation.open_tasks(get_session(), vendor=vendor)
    return InRemediationList(in_remediation=[InRemediationOut.of(r) for r in rows])

"""Trainers' translations page: every SOP x language with its state (CSV too), and coverage by
language (agents blocked by a missing or stale translation, translation lag)."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, abort, render_template, request

from kb_app.acks.translations import coverage_by_language
from kb_app.catalog import load_catalog
from kb_app.catalog.languages import is_iso639_1, language_name
from kb_app.catalog.staleness import TranslationState, status_table
from kb_app.web.context import get_session, roles_required, settings, signed_in_user
from kb_app.web.downloads import csv_download

bp = Blueprint("translations", __name__)

STATUS_COLUMNS = [
    "sop_id",
    "title",
    "language",
    "state",
    "source_version",
    "translated_version",
    "days_stale",
    "missed_changes",
    "path",
]


def _status_rows():
    language = request.args.get("language") or None
    if language is not None and not is_iso639_1(language):
        abort(400)
    cfg = settings()
    catalog = load_catalog(cfg.sop_dir)
    rows = status_table(catalog, cfg.language_list, datetime.now(timezone.utc).date(), language=language)
    languages = sorted(set(cfg.language_list) | set(catalog.translation_languages()))
    return rows, language, languages


@bp.get("/translations")
@roles_required("trainer", "admin", "lead", "partner_manager")
def status_page():
    rows, language, languages = _status_rows()
    user = signed_in_user()
    vendor = user.vendor if user.role == "partner_manager" else None
    coverage = coverage_by_language(get_session(), now=datetime.now(timezone.utc), vendor=vendor)
    counts = {state.value: sum(1 for r in rows if r.state is state) for state in TranslationState}
    return render_template(
        "translations/status.html",
        rows=rows,
        coverage=[c for c in coverage if language is None or c.language in (language, "en")],
        counts=counts,
        language=language,
        languages=languages,
        language_name=language_name,
        vendor=vendor,
    )


@bp.get("/translations.csv")
@roles_required("trainer", "admin", "lead", "partner_manager")
def status_csv():
    rows, language, _ = _status_rows()
    data = []
    for row in rows:
        item = row.to_dict()
        item["missed_changes"] = row.missed_summary
        data.append(item)
    return csv_download(STATUS_COLUMNS, data, f"translations-{language or 'all'}.csv")

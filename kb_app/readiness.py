"""Is this node ready to serve: database, schema revision, Redis (when configured), search index,
both sites, and the release it serves against the recorded one. For `/readyz` and `kb serve`.

The schema revision is read at most every `SCHEMA_CHECK_SECONDS` (the migration head once per
process): a probe every second must not scan the migration scripts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kb_app import db, releases
from kb_app.config import Settings
from kb_app.search import SearchIndexError
from kb_app.sites import AUDIENCES

SCHEMA_CHECK_SECONDS = 30.0
_head: list[str | None] = []


@dataclass
class Readiness:
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not_ready", **self.checks, "problems": self.problems}


def _schema(engine: Engine, cache: dict) -> str:
    if not _head:
        _head.append(db.head_revision())
    checked_at, current = cache.get("schema", (0.0, None))
    if current != _head[0] or time.monotonic() - checked_at > SCHEMA_CHECK_SECONDS:
        current = db.current_revision(engine)
        cache["schema"] = (time.monotonic(), current)
    return "current" if current == _head[0] else f"outdated ({current or 'empty'}): run kb db upgrade"


def check(engine: Engine, settings: Settings, *, state, search, watcher=None, cache: dict | None = None) -> Readiness:
    cache = cache if cache is not None else {}
    report = Readiness()
    try:
        db.ping(engine)
        report.checks["database"] = "ok"
        report.checks["schema"] = _schema(engine, cache)
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        report.checks["database"] = "unreachable"
        report.problems.append(f"database: {type(error).__name__}")
        return report
    if report.checks["schema"] != "current":
        report.problems.append(f"schema {report.checks['schema']}")
        return report
    shared = state.status()
    report.checks["shared_state"] = shared
    if settings.redis_url and not shared.get("ok"):
        report.problems.append("redis unreachable: limits count per process and caches are bypassed")
    try:
        search.current()
        report.checks["index"] = "ok"
    except SearchIndexError as error:
        report.checks["index"] = "missing"
        report.problems.append(f"index: {error}")
    missing = [tier for tier in AUDIENCES if not (settings.site_dir / tier / "index.html").is_file()]
    report.checks["sites"] = "ok" if not missing else f"missing: {', '.join(missing)}"
    if missing:
        report.problems.append(f"sites not built: {', '.join(missing)} (kb build-site)")
    with Session(engine) as session:
        served = releases.served(session, settings.index_dir, settings.site_dir)
    report.checks["release"] = served.to_dict()
    if served.behind:
        reason = watcher.behind if watcher is not None and watcher.behind else "rebuilding"
        report.problems.append(f"behind release {served.release_id}: {', '.join(served.behind)} ({reason})")
    return report

"""Coverage as the trainers' and leads' pages ask for it, kept briefly in the shared cache.

During a wave many people watch the same overview; each answer is kept a few seconds
(`kb_app.shared_state.COVERAGE_SECONDS`) and dropped at the next acknowledgement, quiz pass,
publish or roster import, so a reload never shows fewer acknowledgements than the last one.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

from sqlalchemy.orm import Session

from kb_app import shared_state
from kb_app.acks import coverage as core


def coverage_overview(
    session: Session, *, by: list[str], now: datetime, flt: core.CoverageFilter | None = None
) -> list[core.CoverageRow]:
    flt = flt or core.CoverageFilter()
    state = shared_state.for_session(session)
    question = json.dumps({"by": by, "flt": asdict(flt), "minute": now.strftime("%Y%m%d%H%M")}, sort_keys=True)
    cached = state.coverage(question)
    if cached is not None:
        return [core.CoverageRow(**row) for row in cached]
    rows = core.coverage(session, by=by, now=now, flt=flt)
    state.keep_coverage(question, [asdict(row) for row in rows])
    return rows

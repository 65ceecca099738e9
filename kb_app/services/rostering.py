"""Importing the roster, and telling every worker that agents' standings changed with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kb_app import roster, shared_state


def import_roster(session: Session, rows: Any, **options: Any) -> roster.ImportPlan:
    """`kb_app.roster.import_roster`; once the import commits, cached agent state, coverage and
    token checks are read again (joiners, leavers and moves change both). A dry run changes nothing."""
    plan = roster.import_roster(session, rows, **options)
    if not options.get("dry_run"):
        state = shared_state.for_session(session)
        shared_state.after_commit(session, state.new_generation)
        # Leavers' tokens stop working and movers' tiers change: cached token checks end too.
        shared_state.after_commit(session, state.new_auth_generation)
    return plan

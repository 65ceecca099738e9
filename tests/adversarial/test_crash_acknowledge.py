"""A process killed in the middle of an acknowledgement leaves nothing half-written.

The child acknowledges, and SIGKILLs itself at the worst moment: after the acknowledgement row
is written, before the assignment it covers is marked. Nothing of it may be durable; on retry the
agent is acknowledged and covered. (Before the fix, SQLite kept the row without the mark: the
agent was stuck with "created: false" and stayed pending in coverage.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from kb_app.acks.acknowledge import acknowledge, what_changed
from kb_app.acks.publishing import publish
from kb_app.catalog import load_catalog
from kb_app.db import session_scope
from kb_app.models import Acknowledgement, Agent, Assignment

# The child process opens the database by URL: it needs a database of its own, not a rolled-back one.
pytestmark = pytest.mark.fresh_db

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime, timezone
    from sqlalchemy import select
    from kb_app import db
    from kb_app.acks import acknowledge as core
    from kb_app.models import Agent

    def killed_before_marking(session, ack, *_rest):
        session.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    core._mark_assignments = killed_before_marking
    engine = db.engine_for(sys.argv[1])
    with db.session_scope(engine) as session:
        agent = session.scalars(select(Agent).where(Agent.employee_id == sys.argv[2])).one()
        core.acknowledge(session, agent, "ATO-RECOVERY", sys.argv[3], now=datetime.now(timezone.utc))
    """
)


def test_a_kill_between_the_acknowledgement_and_its_assignment_leaves_neither(engine, db_url, make_agent, sop_dir):
    make_agent(employee_id="N1")
    sop_dir.write("ATO-RECOVERY")
    with session_scope(engine) as session:
        publish(session, load_catalog(sop_dir.root), now=NOW, by="test")
    with session_scope(engine) as session:
        agent = session.scalars(select(Agent).where(Agent.employee_id == "N1")).one()
        content_hash = what_changed(session, agent, "ATO-RECOVERY").content_hash
    engine.dispose()

    child = subprocess.run([sys.executable, "-c", CHILD, db_url, "N1", content_hash], capture_output=True, timeout=120)
    assert child.returncode == -9, child.stderr.decode()[-2000:]

    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Acknowledgement)) == 0
        assert session.scalar(select(func.count()).where(Assignment.acknowledged_at.is_not(None))) == 0
    with session_scope(engine) as session:
        agent = session.scalars(select(Agent).where(Agent.employee_id == "N1")).one()
        assert acknowledge(session, agent, "ATO-RECOVERY", content_hash, now=NOW).created
    with session_scope(engine) as session:
        [assignment] = session.scalars(select(Assignment)).all()
        assert assignment.acknowledged_at is not None

"""Demo only: make the freshly published demo look lived-in, so coverage pages have something to
show. Requirements are moved back in time and a share of agents acknowledge, some late."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kb_app.acks.gates import mark_covered_assignments
from kb_app.versions import latest_version
from kb_app.models import Acknowledgement, Agent, Assignment, Requirement

DEMO_LOGINS_UNTOUCHED = ("NW-10001", "AS-90001")  # the demo agents keep a full reading list


def simulate_activity(session: Session, *, now: datetime, seed: int = 7) -> int:
    """Backdate open requirements and record demo acknowledgements. Does nothing (returns 0)
    once any acknowledgement exists, so it is safe to run again."""
    if session.scalar(select(func.count()).select_from(Acknowledgement)):
        return 0
    rng = random.Random(seed)
    requirements = session.scalars(
        select(Requirement).where(Requirement.closed_at.is_(None)).order_by(Requirement.id)
    ).all()
    created = 0
    for index, requirement in enumerate(requirements):
        if requirement.is_bulletin:
            opened, window, share = now - timedelta(hours=2), requirement.due_at - requirement.opened_at, 0.55
        else:
            opened, window, share = (
                now - timedelta(days=3 + index % 9),
                requirement.due_at - requirement.opened_at,
                0.6 + (index % 4) * 0.08,
            )
        due = opened + window
        requirement.opened_at, requirement.due_at = opened, due
        session.execute(
            update(Assignment).where(Assignment.requirement_id == requirement.id).values(assigned_at=opened, due_at=due)
        )
        version = latest_version(session, requirement.sop_id)
        rows = session.execute(
            select(Assignment.id, Agent.id, Agent.tier, Agent.vendor, Agent.employee_id)
            .join(Agent, Agent.id == Assignment.agent_id)
            .where(Assignment.requirement_id == requirement.id)
        ).all()
        for _assignment_id, agent_id, tier, vendor, employee_id in rows:
            if employee_id in DEMO_LOGINS_UNTOUCHED:
                continue
            vendor_bias = {"northwind-bpo": 0.1, "apex-cx": -0.15, "lumen-support": 0.0}.get(vendor, 0.15)
            if rng.random() > share + vendor_bias:
                continue
            elapsed = (now - opened).total_seconds()
            at = opened + timedelta(seconds=min(rng.expovariate(3.0 / max(window.total_seconds(), 1)), elapsed))
            ack = Acknowledgement(
                agent_id=agent_id,
                version_id=version.id,
                sop_id=version.sop_id,
                major=version.major,
                minor=version.minor,
                content_hash=version.tier_hashes.get(tier, version.content_hash),
                acknowledged_at=at,
                channel="web",
            )
            session.add(ack)
            session.flush()
            # Through the real rule: a version gated by an update quiz stays uncovered until a pass.
            mark_covered_assignments(session, agent_id, version.sop_id)
            created += 1
    return created

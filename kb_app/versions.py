"""Published versions: the newest one per SOP, and the one "MAJOR.MINOR or later" rule.

It sits below `kb_app.acks` and `kb_app.quizzes` because both ask it: acknowledgements count
for a version or any later one, and certifications end when a covered SOP gets a new major.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from kb_app.models.acks import Acknowledgement, PublishedVersion


def at_least(major_column, minor_column, major, minor) -> ColumnElement[bool]:
    """SQL for "version (major_column.minor_column) is major.minor or later".

    `major` and `minor` may be values or columns (an acknowledgement against its requirement).
    """
    return or_(major_column > major, and_(major_column == major, minor_column >= minor))


def acknowledged_at_least(sop_id, major, minor) -> ColumnElement[bool]:
    """Acknowledgements of `sop_id` at version major.minor or later."""
    return and_(Acknowledgement.sop_id == sop_id, at_least(Acknowledgement.major, Acknowledgement.minor, major, minor))


def latest_versions(session: Session) -> dict[str, PublishedVersion]:
    """The newest published version of every SOP, in one query."""
    newest = (
        select(PublishedVersion.sop_id, func.max(PublishedVersion.id).label("id"))
        .group_by(PublishedVersion.sop_id)
        .subquery()
    )
    rows = session.scalars(select(PublishedVersion).join(newest, PublishedVersion.id == newest.c.id))
    return {row.sop_id: row for row in rows}


def latest_version(session: Session, sop_id: str) -> PublishedVersion | None:
    return session.scalars(
        select(PublishedVersion).where(PublishedVersion.sop_id == sop_id).order_by(PublishedVersion.id.desc()).limit(1)
    ).first()


def tier_floors(session: Session, sop_id: str, version: PublishedVersion) -> dict[str, tuple[int, int]]:
    """Per tier, the oldest version whose text that tier reads exactly as in `version` (the versions
    between changed nothing a reader of that tier sees). An acknowledgement of that version or later
    already covers `version` for the tier: a change in a Tier 2 block asks no Tier 1 agent to read
    again what did not change for them."""
    chain = session.execute(
        select(PublishedVersion.major, PublishedVersion.minor, PublishedVersion.tier_hashes)
        .where(PublishedVersion.sop_id == sop_id, PublishedVersion.id <= version.id)
        .order_by(PublishedVersion.id.desc())
    ).all()
    floors = {}
    for tier, text_hash in (version.tier_hashes or {}).items():
        floor = (version.major, version.minor)
        for major, minor, hashes in chain:
            if (hashes or {}).get(tier) != text_hash:
                break
            floor = (major, minor)
        floors[tier] = floor
    return floors

"""Published versions: the newest one per SOP, and the one "MAJOR.MINOR or later" rule.

It sits below `kb_app.acks` and `kb_app.quizzes` because both ask it: acknowledgements count
for a version or any later one, and certifications end when a covered SOP gets a new major.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from kb_app import shared_state
from kb_app.db import loaded_copy
from kb_app.models.acks import Acknowledgement, PublishedVersion
from kb_app.models.translations import PublishedTranslation


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


def newest_version(session: Session, sop_id: str) -> PublishedVersion | None:
    """`latest_version`, with the row itself (the whole text) read from the database only the
    first time this process meets it (`kept_row`): one index lookup per call. It reads committed
    rows (no flush first): published versions are written by a publish, not by its readers."""
    found = session.connection().execute(_NEWEST_VERSION, {"sop_id": sop_id}).first()
    return kept_row(session, PublishedVersion, found)


_NEWEST_VERSION = (
    select(PublishedVersion.id, PublishedVersion.content_hash, PublishedVersion.status, PublishedVersion.published_at)
    .where(PublishedVersion.sop_id == bindparam("sop_id"))
    .order_by(PublishedVersion.id.desc())
    .limit(1)
)


# --- published rows, read once per process ------------------------------------------------------

_Published = TypeVar("_Published", PublishedVersion, PublishedTranslation)
KEPT_ROWS = 256  # a bound, not a policy: start again rather than grow
_kept: dict[tuple[Any, ...], Any] = {}
_kept_lock = threading.Lock()


def kept_row(session: Session, cls: type[_Published], found: Any) -> _Published | None:
    """The session's own instance of the published row `found` names, as (id, content hash,
    status or source version, published at): from this process's copy, without a query, once it
    has read that row. A published version or translation is written once; what can change in
    place (a version retired) is part of the key, so a changed row is read again, never served
    from the copy. Keyed by database as well: the same id in another database is another row."""
    if found is None:
        return None
    key = (shared_state.for_session(session).ns, cls.__tablename__, *found)
    copy = _kept.get(key)
    if copy is None:
        row = session.get(cls, found[0])
        if row is None:
            return None
        copy = loaded_copy(cls, {c.key: getattr(row, c.key) for c in sa_inspect(cls).column_attrs})
        with _kept_lock:
            if len(_kept) >= KEPT_ROWS:
                _kept.clear()
            _kept[key] = copy
        return row
    return session.merge(copy, load=False)


def forget_kept_rows() -> None:
    with _kept_lock:
        _kept.clear()


_NEWEST_TRANSLATION = (
    select(
        PublishedTranslation.id,
        PublishedTranslation.content_hash,
        PublishedTranslation.source_version,
        PublishedTranslation.published_at,
    )
    .where(PublishedTranslation.sop_id == bindparam("sop_id"), PublishedTranslation.language == bindparam("language"))
    .order_by(PublishedTranslation.id.desc())
    .limit(1)
)


def newest_translation(session: Session, sop_id: str, language: str) -> PublishedTranslation | None:
    """The newest published translation of `sop_id` into `language` (see `kept_row`)."""
    found = session.connection().execute(_NEWEST_TRANSLATION, {"sop_id": sop_id, "language": language}).first()
    return kept_row(session, PublishedTranslation, found)


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

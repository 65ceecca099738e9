"""Publishing a release: record the new versions, decide their update-quiz gates, audit it, and
refresh search, in one place for `kb publish` and the trainers' Publish page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from kb_app import audit
from kb_app.acks.publishing import PublishPlan, PublishRefused, plan_publish, publish
from kb_app.catalog import Catalog
from kb_app.quizzes.library import LoadedBanks
from kb_app.search import SearchIndexError, build_index

__all__ = ["PublishRefused", "ReleaseResult", "preview_release", "publish_release", "refresh_search"]


@dataclass
class ReleaseResult:
    plan: PublishPlan
    notes: list[str] = field(default_factory=list)  # what worked only partly, for the publisher

    @property
    def versions(self) -> list[str]:
        return [f"{item.sop_id} v{item.version}" for item in self.plan.changes]

    @property
    def translations(self) -> list[str]:
        return [f"{t.sop_id} ({t.language}) of v{t.source_version}" for t in self.plan.translations]


def preview_release(
    session: Session, catalog: Catalog, quiz_banks: LoadedBanks, *, now: datetime, due_days: int
) -> PublishPlan:
    """What publishing now would record, and whom it would ask. Raises PublishRefused."""
    if not catalog.ok:
        raise PublishRefused([str(p) for p in catalog.problems if p.is_error])
    plan = plan_publish(session, catalog, now=now, due_days=due_days, quiz_banks=quiz_banks)
    if not plan.ok:
        raise PublishRefused(plan.problems)
    return plan


def publish_release(
    session: Session,
    catalog: Catalog,
    quiz_banks: LoadedBanks,
    *,
    now: datetime,
    by: str,
    actor_user_id: int | None = None,
    due_days: int,
    onboarding_days: int,
    index_dir: Path | None,
) -> ReleaseResult:
    """Publish everything the catalog changed, in the caller's session, and commit it.

    Raises PublishRefused (nothing written). After the commit the search index is rebuilt from
    the same catalog (`index_dir=None` skips it); a failed rebuild leaves the previous index
    serving and is reported in `notes`, since the publish itself stands.
    """
    plan = publish(
        session, catalog, now=now, by=by, due_days=due_days, onboarding_days=onboarding_days, quiz_banks=quiz_banks
    )
    result = ReleaseResult(plan)
    if plan.has_changes:
        audit.record(
            session,
            "sop.publish",
            actor=by,
            actor_user_id=actor_user_id,
            details={"versions": result.versions, "translations": result.translations},
        )
    session.commit()
    if plan.has_changes and index_dir is not None:
        note = refresh_search(catalog, index_dir)
        if note:
            result.notes.append(note)
    return result


def refresh_search(catalog: Catalog, index_dir: Path) -> str | None:
    """Rebuild the search index; a failure leaves the old index serving and says so."""
    try:
        build_index(catalog, index_dir)
    except SearchIndexError as error:
        return f"published, but the search index was not rebuilt ({error}); run `kb index`"
    return None

"""Publishing a release: build its search index and sites, record the new versions, decide their
update-quiz gates, audit it, make it live, and tell every worker and node; in one place for
`kb publish` and the trainers' Publish page."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from kb_app import audit, shared_state
from kb_app.acks.publishing import PublishPlan, PublishRefused, plan_publish, publish
from kb_app.catalog import Catalog
from kb_app.quizzes.library import LoadedBanks
from kb_app.releases import SiteOptions, catch_up, stage_release
from kb_app.search import SearchIndexError, build_index
from kb_app.services.acknowledging import warm_standings
from kb_app.sites import SiteBuildError

__all__ = ["PublishRefused", "ReleaseResult", "SiteOptions", "preview_release", "publish_release", "refresh_search"]


log = logging.getLogger(__name__)


@dataclass
class ReleaseResult:
    plan: PublishPlan
    notes: list[str] = field(default_factory=list)  # what worked only partly, for the publisher
    warmed: int = 0  # agents whose banner and reading list were computed ahead (Redis only)

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
    site_dir: Path | None = None,
    site_options: SiteOptions | None = None,
) -> ReleaseResult:
    """Publish everything the catalog changed, in the caller's session, and commit it.

    One release everywhere: the search index (`index_dir`) and both sites (`site_dir`) are built
    from the same catalog first, swapped in just before the commit, and swapped back if the
    commit fails; so when agents are asked to acknowledge, search and the sites already show the
    text. Raises PublishRefused (nothing written, nothing swapped), also when the index or a site
    does not build. `None` for a directory leaves that part alone (`kb publish --no-index`).
    """
    plan = preview_release(session, catalog, quiz_banks, now=now, due_days=due_days)
    staged = None
    if plan.has_changes and (index_dir is not None or site_dir is not None):
        try:
            staged = stage_release(catalog, index_dir=index_dir, site_dir=site_dir, site_options=site_options)
        except (SearchIndexError, SiteBuildError) as error:
            problems = [str(p) for p in getattr(error, "problems", [])]
            raise PublishRefused([f"nothing was published: {error}", *problems]) from None
    try:
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
                details={"versions": result.versions, "translations": result.translations, "release": plan.release_id},
            )
        if staged is not None:
            staged.go_live()
        session.commit()
    except BaseException:
        session.rollback()
        if staged is not None:
            staged.undo()
        raise
    if staged is not None:
        staged.finish()
    elif index_dir is not None or site_dir is not None:
        # Nothing new to record, but what agents search and read may still be older than the
        # recorded release (a publish killed after its commit, `kb publish --no-index`): rebuild it.
        try:
            rebuilt = catch_up(catalog, index_dir=index_dir, site_dir=site_dir, site_options=site_options)
        except (SearchIndexError, SiteBuildError) as error:
            result.notes.append(
                f"the live search index or sites are older than the release; rebuilding failed: {error}"
            )
        else:
            if rebuilt:
                result.notes.append(f"{', '.join(rebuilt)} older than the published release: rebuilt")
    if plan.has_changes:
        state = shared_state.for_session(session)
        state.new_generation()
        state.announce_release(plan.release_id or 0)
        result.warmed = _warm_banners(session, quiz_banks, now=now)
    return result


def _warm_banners(session: Session, quiz_banks: LoadedBanks, *, now: datetime) -> int:
    """Every active agent's standing, kept in Redis before they reload (never fails a publish)."""
    try:
        with Session(session.get_bind()) as own:
            return warm_standings(own, quiz_banks, now=now)
    except SQLAlchemyError as error:
        log.warning("could not compute banners ahead after the publish: %s", error)
        return 0


def refresh_search(catalog: Catalog, index_dir: Path) -> str | None:
    """Rebuild the search index; a failure leaves the old index serving and says so."""
    try:
        build_index(catalog, index_dir)
    except SearchIndexError as error:
        return f"published, but the search index was not rebuilt ({error}); run `kb index`"
    return None

"""One release everywhere: what was published last (the `releases` table), what this node serves
(the catalog hash in its search-index and site manifests), and bringing the two together.

A publish stages the new index and both sites first, swaps them in just before its transaction
commits and undoes the swap if the commit fails, so no agent is asked to acknowledge text that
search or the site does not show (`StagedRelease`). A node whose index or sites are older than the
recorded release rebuilds them from its SOP files when those are the release's
(`bring_up_to_date`), and otherwise reports itself behind (`/readyz`): its git checkout must move on
first.
"""

from __future__ import annotations

import fcntl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from kb_app import shared_state
from kb_app.catalog import Catalog, load_catalog
from kb_app.config import Settings
from kb_app.models import PublishedVersion, Release
from kb_app.search import SearchIndexError
from kb_app.search import index as search_index
from kb_app.sites import (
    AUDIENCES,
    SiteBuildError,
    build_sites,
    discard_builds,
    ensure_mermaid,
    live_site_keys,
    planned_site_keys,
    restore_builds,
    site_catalog_hash,
    swap_in_builds,
)


def latest_release(session: Session) -> Release | None:
    return session.scalars(select(Release).order_by(Release.id.desc()).limit(1)).first()


def latest_release_id(session: Session) -> int:
    """0 before the first publish. One trivial query (the primary key's maximum)."""
    return session.scalar(select(func.max(Release.id))) or 0


def release_stamp(session: Session) -> tuple[int, int]:
    """(newest release, newest published version): changes whenever what agents are served
    changes, also for versions recorded outside a publish. One query of two index lookups."""
    row = session.execute(
        select(select(func.max(Release.id)).scalar_subquery(), select(func.max(PublishedVersion.id)).scalar_subquery())
    ).one()
    return (row[0] or 0, row[1] or 0)


# The stamp as last read in this process, per database: (read at, monotonic; stamp).
STAMP_SECONDS = 1.0
_stamps: dict[str, tuple[float, tuple[int, int]]] = {}
_stamps_lock = threading.Lock()


def recent_release_stamp(session: Session, *, max_age: float = STAMP_SECONDS) -> tuple[int, int]:
    """`release_stamp`, read from the database at most every `max_age` seconds per process.

    A hot path (every banner) asks this instead of the database. A publish or version recorded
    through this process forgets the stamp when it commits (`_forget_stamp_on_commit`), so this
    process never lags itself; another process's publish is seen within `max_age`. Lagging is
    safe: the site and search swap in before the publish commits, so a stale stamp only delays
    the request to acknowledge, it never asks for text that is not served.
    """
    key = _stamp_key(session)
    known = _stamps.get(key)
    now = time.monotonic()
    if known is not None and now - known[0] < max_age:
        return known[1]
    stamp = release_stamp(session)
    with _stamps_lock:
        _stamps[key] = (now, stamp)
    return stamp


def forget_release_stamps() -> None:
    with _stamps_lock:
        _stamps.clear()


def _stamp_key(session: Session) -> str:
    return shared_state.for_session(session).ns  # one per database


@event.listens_for(Session, "after_flush")
def _forget_stamp_on_commit(session: Session, _context: Any) -> None:
    if any(isinstance(obj, (Release, PublishedVersion)) for obj in session.new):
        shared_state.after_commit(session, forget_release_stamps)


@dataclass
class Served:
    """What this node serves, against the recorded release."""

    release_id: int
    catalog_hash: str | None  # the release's; None before the first publish
    index_hash: str | None
    site_hashes: dict[str, str | None]

    @property
    def behind(self) -> list[str]:
        """The parts (index, each audience's site, its language sites and preview) that do not
        serve the recorded release."""
        if self.catalog_hash is None:
            return []
        parts = {"index": self.index_hash, **{f"site {tier}": h for tier, h in self.site_hashes.items()}}
        return [name for name, value in parts.items() if value != self.catalog_hash]

    def to_dict(self) -> dict[str, Any]:
        return {
            "release": self.release_id,
            "catalog_hash": self.catalog_hash,
            "index": self.index_hash,
            "sites": self.site_hashes,
            "behind": self.behind,
        }


def served(session: Session, index_dir: Path, site_dir: Path) -> Served:
    release = latest_release(session)
    return Served(
        release_id=release.id if release else 0,
        catalog_hash=release.catalog_hash if release else None,
        index_hash=search_index.build_catalog_hash(index_dir),
        site_hashes={key: site_catalog_hash(site_dir, key) for key in live_site_keys(site_dir)},
    )


@dataclass
class SiteOptions:
    """How this deployment builds its sites (the `kb build-site` options)."""

    mermaid_js: Path | None = None
    site_url: str | None = None
    search_url: str | None = None


APP_SEARCH_PAGE = "/search"  # the app's search page (kb_app.web.search), where served sites send queries


def site_options_for(settings: Settings) -> SiteOptions:
    """The site options of this deployment's releases (never fetching mermaid). These are the
    sites the app serves, so their search box opens its search page (KB_SEARCH_URL, default
    /search), as `kb setup` builds them: a publish from the web or a node catching up must not
    swap in sites whose search box goes elsewhere."""
    mermaid, _warning = ensure_mermaid(settings.var_dir / "vendor", fetch=False, npm=settings.npm)
    return SiteOptions(mermaid_js=mermaid.path if mermaid else None, search_url=settings.search_url or APP_SEARCH_PAGE)


@dataclass
class StagedRelease:
    """A search index and sites built from one catalog, not yet live."""

    index_dir: Path | None
    site_dir: Path | None
    index_build: str | None = None
    site_builds: list[tuple[str, Path]] = field(default_factory=list)
    _previous_index: str | None = None
    _replaced_sites: list[tuple[str, Path | None]] = field(default_factory=list)
    live: bool = False

    def go_live(self) -> None:
        if self.index_dir is not None and self.index_build is not None:
            self._previous_index = search_index.read_pointer(self.index_dir)
            search_index.activate_build(self.index_dir, self.index_build)
        if self.site_dir is not None and self.site_builds:
            self._replaced_sites = swap_in_builds(self.site_dir, self.site_builds)
        self.live = True

    def undo(self) -> None:
        """The release did not commit: serve what was served before, drop the staged builds."""
        if self.live:
            if self.index_dir is not None and self._previous_index is not None:
                search_index.restore_build(self.index_dir, self._previous_index)
            if self.site_dir is not None:
                restore_builds(self.site_dir, self._replaced_sites)
        discard_builds(path for _, path in self.site_builds)
        self.live = False

    def finish(self) -> None:
        """The release committed: the replaced site builds can go."""
        discard_builds(path for _, path in self._replaced_sites)


def stage_release(
    catalog: Catalog, *, index_dir: Path | None, site_dir: Path | None, site_options: SiteOptions | None = None
) -> StagedRelease:
    """Build the index and every audience's site from `catalog`, leaving them ready to swap in.

    Raises search.SearchIndexError or sites.SiteBuildError; nothing live changes either way.
    """
    staged = StagedRelease(index_dir, site_dir)
    if index_dir is not None:
        staged.index_build = search_index.build_index(catalog, index_dir, activate=False).build_id
    if site_dir is not None:
        options = site_options or SiteOptions()
        result = build_sites(
            catalog.root,
            site_dir,
            AUDIENCES,
            mermaid_js=options.mermaid_js,
            site_url=options.site_url,
            search_url=options.search_url,
            swap=False,
            previews=True,
        )
        staged.site_builds = result.pending
    return staged


class BehindRelease(Exception):
    """This node's SOP files are not the recorded release: update the checkout first."""


def bring_up_to_date(
    session: Session,
    catalog: Catalog,
    *,
    index_dir: Path,
    site_dir: Path,
    site_options: SiteOptions | None = None,
) -> list[str]:
    """Rebuild whatever part of this node serves something older than the recorded release.

    Returns the parts rebuilt (empty when all is current). Raises BehindRelease when the SOP
    files on this node are not the release's (rebuilding from them would serve other text).
    """
    state = served(session, index_dir, site_dir)
    behind = state.behind
    if not behind:
        return []
    if catalog.release_hash != state.catalog_hash:
        raise BehindRelease(
            f"the SOP files in {catalog.root} are not release {state.release_id} "
            f"(catalog {catalog.release_hash[:12]}, release {(state.catalog_hash or '')[:12]}): update them from git"
        )
    staged = stage_release(
        catalog,
        index_dir=index_dir if "index" in behind else None,
        site_dir=site_dir if any(part.startswith("site") for part in behind) else None,
        site_options=site_options,
    )
    staged.go_live()
    staged.finish()
    return behind


def prepare_to_serve(
    session: Session,
    catalog: Catalog,
    *,
    index_dir: Path,
    site_dir: Path,
    site_options: SiteOptions | None = None,
) -> list[str]:
    """Before serving: the index and sites must be built from these SOP files, and these files
    must be the recorded release (else agents would read text that is not the published one).

    Rebuilds the parts that are off and returns their names; raises BehindRelease when the SOP
    files are not the release (unpublished edits, or a checkout that is behind).
    """
    release = latest_release(session)
    if release is not None and release.catalog_hash != catalog.release_hash:
        raise BehindRelease(
            f"the SOP files in {catalog.root} are not the published release {release.id} "
            f"({', '.join(release.versions[:3])}{', ...' if len(release.versions) > 3 else ''}): "
            "publish them (kb publish) or check out the published release"
        )
    return catch_up(catalog, index_dir=index_dir, site_dir=site_dir, site_options=site_options)


def catch_up(
    catalog: Catalog, *, index_dir: Path | None, site_dir: Path | None, site_options: SiteOptions | None = None
) -> list[str]:
    """Rebuild whichever of the index (`index_dir`) and sites (`site_dir`) were not built from
    `catalog`, e.g. after a publish killed between its commit and the swap, or `kb publish
    --no-index`; returns the names of the parts rebuilt (None skips a part)."""
    wanted = catalog.release_hash
    parts = {"index": search_index.build_catalog_hash(index_dir)} if index_dir is not None else {}
    if site_dir is not None:
        parts.update({f"site {key}": site_catalog_hash(site_dir, key) for key in planned_site_keys(catalog)})
    off = [name for name, value in parts.items() if value != wanted]
    if not off:
        return []
    staged = stage_release(
        catalog,
        index_dir=index_dir if "index" in off else None,
        site_dir=site_dir if any(part.startswith("site") for part in off) else None,
        site_options=site_options,
    )
    staged.go_live()
    staged.finish()
    return off


class ReleaseWatcher:
    """Keeps one node on the newest release: notices it (a Redis notice, else the database),
    rebuilds the index and sites from this node's SOP files when they are the release's, and
    moves the shared-state generation on so cached agent state is read again.

    `check()` does one round; `start()` runs it every `interval` seconds in a daemon thread
    (one per worker process; a file lock lets one worker per node do the rebuilding).
    """

    def __init__(self, settings: Settings, engine, state, *, interval: float | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.state = state
        self.interval = interval if interval is not None else settings.release_check_seconds
        self.known: int | None = None
        self.behind: str | None = None  # why this node cannot serve the release, when it cannot
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def check(self) -> list[str]:

        with Session(self.engine) as session:
            newest = latest_release_id(session)
            if newest == self.known and self.behind is None:
                return []
            self.settings.var_dir.mkdir(parents=True, exist_ok=True)
            with open(self.settings.var_dir / ".release.lock", "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return []  # another worker of this node is rebuilding; look again next round
                try:
                    rebuilt = bring_up_to_date(
                        session,
                        load_catalog(self.settings.sop_dir),
                        index_dir=self.settings.index_dir,
                        site_dir=self.settings.site_dir,
                        site_options=site_options_for(self.settings),
                    )
                except (BehindRelease, SearchIndexError, SiteBuildError) as error:
                    self.behind = str(error)
                    return []
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        if self.known is not None and newest != self.known:
            forget_release_stamps()
            self.state.new_local_generation()
        self.known, self.behind = newest, None
        return rebuilt

    def start(self) -> None:
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.check()
                except Exception as error:  # noqa: BLE001 - a failed round must not end the watch
                    self.behind = f"release check failed: {error}"

        self._thread = threading.Thread(target=loop, name="kb-release-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

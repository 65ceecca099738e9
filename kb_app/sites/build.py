"""Build the static site of each audience with MkDocs (strict) and swap it in atomically.

Layout of the site dir:

    <site-dir>/T1 -> .builds/T1-<stamp>     (symlink, replaced with one rename)
    <site-dir>/T2 -> .builds/T2-<stamp>
    <site-dir>/T1.es -> .builds/T1.es-<stamp> (one per audience and translated language)
    <site-dir>/preview-T1 -> .builds/preview-T1-<stamp> (drafts included: trainers and admins only)
    <site-dir>/.builds/                      (finished builds; old ones removed after a swap)

Every audience is built before any is swapped in, so T1 and T2 always come from the same
catalog, and a failed build leaves the sites that were serving untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import material

from kb_app.catalog import Catalog, load_catalog, validate_catalog
from kb_app.catalog.languages import SOURCE_LANGUAGE, direction, language_name
from kb_app.problems import Problem
from kb_app.sites.staging import StagedSite, preview_key, site_key, stage_site

AUDIENCES = ("T1", "T2")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "mkdocs.yml"
ASSETS_DIR = REPO_ROOT / "site_config" / "assets"
BUILDS = ".builds"
MANIFEST = "kb-site.json"
TEXT_SUFFIXES = {".html", ".json", ".xml", ".txt"}
THEME_LANGUAGES = Path(material.__file__).resolve().parent / "templates" / "partials" / "languages"


class SiteBuildError(Exception):
    """The site was not built (nothing was swapped in); `problems` say where and why.

    `headline` is the one-line summary; `str()` adds every problem, one per line.
    """

    def __init__(self, headline: str, problems: Iterable[Problem] = ()):
        self.headline = headline
        self.problems = list(problems)
        super().__init__("\n".join([headline, *(str(p) for p in self.problems)]))


@dataclass
class AudienceBuild:
    tier: str
    path: Path
    pages: int
    seconds: float
    language: str = SOURCE_LANGUAGE
    preview: bool = False  # the trainers' preview build: drafts included

    @property
    def key(self) -> str:
        return preview_key(self.tier) if self.preview else site_key(self.tier, self.language)

    def to_dict(self) -> dict:
        return {
            "tier": self.tier,
            "language": self.language,
            "preview": self.preview,
            "path": str(self.path),
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class BuildResult:
    site_dir: Path
    builds: list[AudienceBuild] = field(default_factory=list)
    diagrams: bool = False
    warnings: list[Problem] = field(default_factory=list)
    # Built with swap=False: (tier, build dir) not yet live; see `swap_in_builds`.
    pending: list[tuple[str, Path]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "ok": True,
            "site_dir": str(self.site_dir),
            "diagrams": self.diagrams,
            "audiences": {b.tier: b.to_dict() for b in self.builds if b.language == SOURCE_LANGUAGE and not b.preview},
            "sites": {b.key: b.to_dict() for b in self.builds},
            "warnings": [w.to_dict() for w in self.warnings],
        }


# --- MkDocs -------------------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


_DOC_FILE = re.compile(r"Doc file '(?P<doc>[^']+)'")
_LINK = re.compile(r"(?:link|anchor) '(?P<target>[^']+)'")


def _problem_from_mkdocs(message: str, catalog: Catalog) -> Problem:
    """Turn a MkDocs warning into `path:line: message`, pointing at the SOP source line if found."""
    doc = _DOC_FILE.search(message)
    sop = next((s for s in catalog if doc and s.rel_path == doc.group("doc")), None)
    if sop is None:
        where = f"(generated page) {doc.group('doc')}" if doc else "mkdocs"
        return Problem.error(where, 1, message)
    line = 1
    target = _LINK.search(message)
    if target:
        needle = target.group("target")
        for number, text in enumerate(Path(sop.path).read_text(encoding="utf-8").splitlines(), start=1):
            if needle in text:
                line = number
                break
    return Problem.error(sop.path, line, message)


def _mkdocs_build(staged: StagedSite, out_dir: Path, config_file: Path, catalog: Catalog, options: dict) -> None:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    logger = logging.getLogger("mkdocs")
    collect = _Collect()
    propagate = logger.propagate
    logger.addHandler(collect)
    logger.propagate = False  # MkDocs' own messages are reported below, as path:line problems
    try:
        config = load_config(
            str(config_file),
            docs_dir=str(staged.docs_dir),
            site_dir=str(out_dir),
            strict=True,
            nav=staged.nav,
            site_name=f"Account Security KB · {staged.extra['audience_label']}"
            + (f" · {language_name(staged.language)}" if staged.language != SOURCE_LANGUAGE else "")
            + (" · Preview" if staged.extra["preview"] else ""),
            # Only the 404 page, canonical links and the sitemap use it; page links stay relative.
            site_url=options["site_url"].replace("{audience}", staged.tier) if options.get("site_url") else None,
        )
        # A preview keeps the built-in search: the server's index never holds drafts.
        search_url = "" if staged.extra["preview"] else options.get("search_url") or ""
        config.extra["kb"] = {**staged.extra, "search_url": search_url}
        config.extra["homepage"] = staged.extra["app_home"]  # the logo goes to the app's Home
        if staged.language != SOURCE_LANGUAGE:
            # Material's own interface strings and the page direction follow the site's language.
            if (THEME_LANGUAGES / f"{staged.language}.html").is_file():
                config.theme["language"] = staged.language
            config.theme["direction"] = direction(staged.language)
        build(config)
    except (MkDocsException, SystemExit) as error:
        problems = [_problem_from_mkdocs(m, catalog) for m in collect.messages]
        count = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
        detail = f"{count} (a broken link or anchor fails the build)" if problems else str(error)
        raise SiteBuildError(f"{staged.key} site failed to build: {detail}; no site was changed", problems) from None
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate


def _check_no_hidden_material(staged: StagedSite, out_dir: Path) -> None:
    """Last line of defence: no Tier 2 block and no link to a `t2_only` page in any T1 output file,
    and no link to a draft in an agents' site."""
    markers = ["tier-t2", *staged.extra["t2_only_markers"]] if staged.tier == "T1" else []
    markers += staged.extra["draft_markers"]
    for file in out_dir.rglob("*"):
        if file.suffix not in TEXT_SUFFIXES or not file.is_file():
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        for marker in markers:
            if marker in text:
                rel = file.relative_to(out_dir)
                what = "a draft" if marker in staged.extra["draft_markers"] else "Tier 2 material"
                raise SiteBuildError(f"{staged.key} site would leak {what}: {rel} contains {marker!r}")


def _write_manifest(staged: StagedSite, out_dir: Path, catalog_hash: str, built_with: list[str]) -> None:
    """What the web app needs to tie a served page to the exact text an agent acknowledges, and
    the sites built with this one from the same catalog (`built_with`, its own key included):
    a node checks them all against the release (`releases.served`)."""
    manifest = {
        "audience": staged.tier,
        "built_with": built_with,
        "language": staged.language,
        "built_at": staged.extra["built_at"],
        "catalog_hash": catalog_hash,
        "pages": [
            {
                "id": s.id,
                "title": staged.served[s.id].title,
                "kind": s.kind.value,
                "version": s.version,
                "status": s.status.value,
                "url": s.rel_path[: -len(".md")] + "/",
                "content_hash": staged.served[s.id].content_hash,
                "language": staged.served[s.id].language,
                "translation_state": staged.served[s.id].state,
            }
            for s in staged.sops
        ],
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- atomic swap --------------------------------------------------------------------------------


@contextlib.contextmanager
def _build_lock(site_dir: Path):
    """One build at a time per site dir: a swap removes old builds, never a neighbour's new one."""
    with open(site_dir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _point(site_dir: Path, tier: str, build_dir: Path) -> Path | None:
    """Point <site-dir>/<tier> at build_dir with one rename; returns the build it pointed at."""
    live = site_dir / tier
    previous = None
    if live.is_symlink():
        previous = (site_dir / os.readlink(live)).resolve()
    elif live.exists():
        # A plain directory from an older layout: move it aside first (not atomic, once only).
        previous = site_dir / BUILDS / f"{tier}-legacy-{time.time_ns()}"
        os.rename(live, previous)
    link = site_dir / f".{tier}.link-{time.time_ns()}"
    link.symlink_to(build_dir.relative_to(site_dir))
    os.replace(link, live)
    return previous


def _swap_in(site_dir: Path, tier: str, build_dir: Path) -> None:
    """Point <site-dir>/<tier> at build_dir, then remove the builds it replaced."""
    _point(site_dir, tier, build_dir)
    for old in (site_dir / BUILDS).glob(f"{tier}-*"):  # the build lock is held: none is in progress
        if old != build_dir:
            shutil.rmtree(old, ignore_errors=True)


def swap_in_builds(site_dir: Path | str, pending: list[tuple[str, Path]]) -> list[tuple[str, Path | None]]:
    """Make builds made with swap=False live, one rename per audience; returns what they replaced
    (for `restore_builds`, or `discard_builds` once the release stands)."""
    site_dir = Path(site_dir)
    with _build_lock(site_dir):
        return [(tier, _point(site_dir, tier, build_dir)) for tier, build_dir in pending]


def restore_builds(site_dir: Path | str, replaced: list[tuple[str, Path | None]]) -> None:
    site_dir = Path(site_dir)
    with _build_lock(site_dir):
        for tier, previous in replaced:
            if previous is not None and previous.is_dir():
                _point(site_dir, tier, previous)


def discard_builds(builds: Iterable[Path | None]) -> None:
    for build in builds:
        if build is not None:
            shutil.rmtree(build, ignore_errors=True)


_SITE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,40}")


def _live_manifest(site_dir: Path | str, key: str) -> dict:
    try:
        found = json.loads((Path(site_dir) / key / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def site_catalog_hash(site_dir: Path | str, key: str) -> str | None:
    """The catalog hash the live site `key` (`T1`, `T1.es`, `preview-T1`) was built from (None:
    none, or an older build)."""
    return _live_manifest(site_dir, key).get("catalog_hash")


def live_site_keys(site_dir: Path | str, audiences: Iterable[str] = AUDIENCES) -> list[str]:
    """The sites that should be live: each audience's, and every site its live build was built
    with (its languages and preview), as its manifest names them."""
    tiers = list(audiences)
    keys = list(tiers)
    for tier in tiers:
        named = _live_manifest(site_dir, tier).get("built_with", [])
        # Folder names only: a manifest edited by hand must not send the check outside site_dir.
        keys += [k for k in named if isinstance(k, str) and _SITE_KEY.fullmatch(k)]
    return list(dict.fromkeys(keys))


def planned_site_keys(catalog: Catalog, audiences: Iterable[str] = AUDIENCES, *, previews: bool = True) -> list[str]:
    """The sites `build_sites` builds from `catalog` (every language it has translations in)."""
    return [key for key, *_ in _site_plan(catalog, audiences, None, previews)]


def _site_plan(
    catalog: Catalog, audiences: Iterable[str], languages: Iterable[str] | None, previews: bool
) -> list[tuple[str, str, str, bool]]:
    """(key, tier, language, preview) of every site a build makes, in build order."""
    wanted = set(audiences)
    tiers = [a for a in AUDIENCES if a in wanted]
    site_languages = sorted(set(catalog.translation_languages() if languages is None else languages))
    plan = [(site_key(t, lang), t, lang, False) for t in tiers for lang in [SOURCE_LANGUAGE, *site_languages]]
    if previews:
        plan += [(preview_key(t), t, SOURCE_LANGUAGE, True) for t in tiers]
    return plan


# --- entry point --------------------------------------------------------------------------------


def build_sites(
    sop_dir: Path | str,
    site_dir: Path | str,
    audiences: Iterable[str] = AUDIENCES,
    *,
    mermaid_js: Path | None = None,
    config_file: Path = DEFAULT_CONFIG,
    assets_dir: Path = ASSETS_DIR,
    now: datetime | None = None,
    site_url: str | None = None,
    search_url: str | None = None,
    languages: Iterable[str] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    swap: bool = True,
    previews: bool = False,
) -> BuildResult:
    """Validate the catalog, build each audience's site, swap them all in. Raises SiteBuildError.

    Besides the source-language site, each audience gets one site per language in `languages`
    (default: every language the catalog has a translation in). Drafts are in none of them;
    with `previews` each audience also gets a preview build that shows its drafts, marked
    (`preview-T1`, `preview-T2`: the web app serves them to trainers and admins only).

    With `swap=False` the builds are left in `result.pending` for `swap_in_builds`.

    `site_url` (may contain `{audience}`) is where the site is served, for the 404 page.
    `search_url`, when set, sends the search box's queries to that server search page.
    """
    now = now or datetime.now(timezone.utc)
    site_dir = Path(site_dir)
    audiences = [a for a in AUDIENCES if a in set(audiences)]
    catalog = load_catalog(sop_dir)
    report = validate_catalog(catalog, against=None, today=now.date())
    if not report.ok:
        raise SiteBuildError(
            f"{len(report.errors)} errors in {sop_dir}: fix them, then build again (no site written)", report.errors
        )
    progress(f"validated {len(catalog)} SOPs in {sop_dir}: {len(report.warnings)} warnings")

    options = {"site_url": site_url, "search_url": search_url}
    site_languages = sorted(set(catalog.translation_languages() if languages is None else languages))
    plan = _site_plan(catalog, audiences, site_languages, previews)
    built_with = [key for key, *_ in plan]
    (site_dir / BUILDS).mkdir(parents=True, exist_ok=True)
    result = BuildResult(site_dir, diagrams=mermaid_js is not None, warnings=report.warnings)
    with _build_lock(site_dir):
        finished: list[tuple[str, Path]] = []
        try:
            for key, tier, language, preview in plan:
                started = time.perf_counter()
                out_dir = Path(tempfile.mkdtemp(prefix=f"{key}-{now:%Y%m%dT%H%M%S}-", dir=site_dir / BUILDS))
                finished.append((key, out_dir))
                with tempfile.TemporaryDirectory(prefix=f"kb-site-docs-{key}-") as docs:
                    try:
                        staged = stage_site(
                            catalog,
                            tier,
                            Path(docs),
                            now=now,
                            assets_dir=assets_dir,
                            mermaid_js=mermaid_js,
                            language=language,
                            site_languages=[] if preview else site_languages,
                            preview=preview,
                        )
                    except ValueError as error:
                        raise SiteBuildError(str(error)) from None
                    progress(f"building {key} site: {len(staged.pages)} pages ...")
                    _mkdocs_build(staged, out_dir, config_file, catalog, options)
                _check_no_hidden_material(staged, out_dir)
                _write_manifest(staged, out_dir, catalog.release_hash, built_with)
                out_dir.chmod(0o755)  # mkdtemp makes it owner-only; a web server user must read it
                result.builds.append(
                    AudienceBuild(
                        tier, site_dir / key, len(staged.pages), time.perf_counter() - started, language, preview
                    )
                )
        except BaseException:
            for _, out_dir in finished:
                shutil.rmtree(out_dir, ignore_errors=True)
            raise
        if not swap:
            result.pending = finished
            return result
        for key, out_dir in finished:
            _swap_in(site_dir, key, out_dir)
            progress(f"{key} site ready: {site_dir / key}")
    return result

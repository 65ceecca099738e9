"""The authoring preview behind `kb preview`: one audience's site, rebuilt on every save.

Each rebuild loads and validates the catalog (plus `also_check`: the quiz banks, which sit above
this layer and are passed in by `kb preview`), stages the docs of one
audience (optionally one language), and builds them with MkDocs. The problems `kb validate`
would print are shown at the top of the page they belong to (all of them on the home page),
and each SOP whose text differs from the comparison revision shows that diff. Staged files are
rewritten only when their content changed, so after the first build MkDocs' dirty build renders
just the pages that changed; a change to the set of pages or the navigation builds everything.

Serving uses MkDocs' own live-reload server (`mkdocs.livereload.LiveReloadServer`), watching
the SOP directory and any directories in `watch` (`kb preview` adds the quiz banks).
"""

from __future__ import annotations

import filecmp
import html
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kb_app.catalog import Catalog, diff_texts, load_catalog, validate_catalog
from kb_app.catalog.gitrev import GitUnavailable, RevisionCatalog, load_at_revision, resolve_revision
from kb_app.problems import Problem
from kb_app.sites.build import ASSETS_DIR, DEFAULT_CONFIG, TEXT_SUFFIXES
from kb_app.sites.staging import stage_site

PROBLEMS_CLASS = "kb-preview-problems"
DIFF_CLASS = "kb-preview-diff"


@dataclass
class PreviewBuild:
    """The outcome of one rebuild: what was checked, what was wrong, how long it took."""

    problems: list[Problem]
    pages: int
    rebuilt: list[str]  # staged files whose content changed (all of them on a full build)
    full: bool
    seconds: float
    changed_sops: list[str] = field(default_factory=list)  # ids whose text differs from `against`

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]


def in_language(catalog: Catalog, language: str | None) -> Catalog:
    """The SOPs a reader of `language` gets: those not narrowed to other languages."""
    if not language:
        return catalog
    kept = Catalog(root=catalog.root, problems=list(catalog.problems), facts=catalog.facts)
    kept.sops = {
        sop_id: sop
        for sop_id, sop in catalog.sops.items()
        if not sop.audience.languages or language in sop.audience.languages
    }
    return kept


def _problem_block(problems: list[Problem], title: str) -> str:
    items = "\n".join(f"<li><code>{html.escape(str(p))}</code></li>" for p in problems)
    return f'<div class="admonition failure {PROBLEMS_CLASS}"><p class="admonition-title">{html.escape(title)}</p><ul>{items}</ul></div>\n\n'


def _diff_block(unified: str, against: str) -> str:
    return (
        f'<details class="{DIFF_CLASS}"><summary>Changes since {html.escape(against)}</summary>'
        f"<pre><code>{html.escape(unified)}</code></pre></details>\n\n"
    )


def _insert_after_front_matter(text: str, block: str) -> str:
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            cut = end + len("\n---\n")
            return text[:cut] + "\n" + block + text[cut:]
    return block + text


def _sync(staged: Path, docs: Path) -> list[str]:
    """Copy staged files into the persistent docs dir, touching only files whose content changed."""
    changed = []
    wanted = {p.relative_to(staged) for p in staged.rglob("*") if p.is_file()}
    for rel in sorted(wanted):
        source, target = staged / rel, docs / rel
        if target.is_file() and filecmp.cmp(source, target, shallow=False):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        changed.append(rel.as_posix())
    for path in sorted(docs.rglob("*"), reverse=True):
        if path.is_file() and path.relative_to(docs) not in wanted:
            path.unlink()
            changed.append(path.relative_to(docs).as_posix())
    return changed


class PreviewSession:
    """Rebuilds one audience's preview site into `site_dir`; `rebuild()` is the live-reload builder."""

    def __init__(
        self,
        sop_dir: Path,
        site_dir: Path,
        *,
        tier: str = "T1",
        language: str | None = None,
        watch: list[Path] | None = None,
        also_check: Callable[[Catalog], list[Problem]] | None = None,
        against: str | None = "HEAD",
        config_file: Path = DEFAULT_CONFIG,
        assets_dir: Path = ASSETS_DIR,
        mermaid_js: Path | None = None,
        report: Callable[[PreviewBuild], None] = lambda build: None,
    ):
        self.sop_dir = Path(sop_dir)
        self.site_dir = Path(site_dir)
        self.docs_dir = self.site_dir.parent / f"{self.site_dir.name}-docs"
        self.tier = tier
        self.language = language
        self.watch = [Path(p) for p in (watch or [])]
        self.also_check = also_check
        self.against = against
        self.config_file = config_file
        self.assets_dir = assets_dir
        self.mermaid_js = mermaid_js
        self.report = report
        self._nav_key: str | None = None
        self._previous: RevisionCatalog | None = None
        self._templates: dict[tuple, list[str]] = {}
        self.last: PreviewBuild | None = None

    # --- one rebuild ------------------------------------------------------------------------

    def previous(self) -> RevisionCatalog | None:
        """The catalog at `against`, read again only when that revision moves (a commit)."""
        if not self.against:
            return None
        try:
            commit = resolve_revision(self.sop_dir, self.against)
            if self._previous is None or self._previous.revision != commit:
                self._previous = load_at_revision(self.sop_dir, commit)
        except GitUnavailable:
            self._previous = None
        return self._previous

    def check(self, catalog: Catalog) -> list[Problem]:
        """What `kb validate` says: the SOPs against `against`, then `also_check` (the quiz banks)."""
        previous = self.previous()
        report = validate_catalog(catalog, against=self.against, previous=previous)
        problems = list(report.problems)
        if self.also_check is not None:
            problems.extend(self.also_check(catalog))
        return sorted(problems)

    def _diffs(self, catalog: Catalog) -> dict[str, str]:
        revision = self.previous()
        if revision is None:
            return {}
        previous = revision.sops
        diffs = {}
        for sop in catalog:
            old = previous.get(sop.id)
            if old is not None and old.body == sop.body and old.title == sop.title:
                continue
            result = diff_texts(
                old.body if old else "",
                sop.body,
                old_label=f"{sop.id} {old.version if old else '(new)'}",
                new_label=f"{sop.id} {sop.version}",
            )
            diffs[sop.id] = result.unified
        return diffs

    def rebuild(self) -> PreviewBuild:
        started = time.perf_counter()
        catalog = load_catalog(self.sop_dir)
        problems = self.check(catalog)
        shown = in_language(catalog, self.language)
        diffs = self._diffs(shown)
        by_path = {sop.path: sop for sop in catalog}
        with tempfile.TemporaryDirectory(prefix=f"kb-preview-{self.tier}-") as tmp:
            staging = Path(tmp)
            staged = stage_site(
                shown,
                self.tier,
                staging,
                now=datetime.now(UTC),
                assets_dir=self.assets_dir,
                mermaid_js=self.mermaid_js,
                preview=True,  # the author's drafts too, marked as such
            )
            for sop in staged.sops:
                page = staging / sop.rel_path
                text = page.read_text(encoding="utf-8")
                own = [p for p in problems if by_path.get(p.path) is sop]
                blocks = ""
                if own:
                    blocks += _problem_block(own, f"kb validate: {len(own)} problem(s) in {sop.path}")
                if sop.id in diffs:
                    blocks += _diff_block(diffs[sop.id], self.against or "")
                if blocks:
                    page.write_text(_insert_after_front_matter(text, blocks), encoding="utf-8")
            home = staging / "index.md"
            if problems and home.is_file():
                block = _problem_block(problems, f"kb validate: {len(problems)} problem(s)")
                home.write_text(_insert_after_front_matter(home.read_text(encoding="utf-8"), block), encoding="utf-8")
            self.docs_dir.mkdir(parents=True, exist_ok=True)
            changed = _sync(staging, self.docs_dir)
        nav_key = repr(staged.nav) + repr(sorted(staged.pages))
        full = nav_key != self._nav_key or not (self.site_dir / "index.html").is_file()
        problems.extend(self._mkdocs(staged, dirty=not full))
        if self.tier == "T1":
            problems.extend(self._tier2_leaks(staged.extra["t2_only_markers"]))
        self._nav_key = nav_key
        build = PreviewBuild(
            problems=sorted(problems),
            pages=len(staged.pages),
            rebuilt=changed,
            full=full,
            seconds=time.perf_counter() - started,
            changed_sops=sorted(diffs),
        )
        self.last = build
        self.report(build)
        return build

    def _mkdocs(self, staged, *, dirty: bool) -> list[Problem]:
        from mkdocs.commands.build import build
        from mkdocs.config import load_config
        from mkdocs.exceptions import MkDocsException

        logger = logging.getLogger("mkdocs")
        messages: list[str] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.levelno >= logging.WARNING:
                    messages.append(record.getMessage())

        handler = Collect()
        logger.addHandler(handler)
        try:
            config = load_config(
                str(self.config_file),
                docs_dir=str(self.docs_dir),
                site_dir=str(self.site_dir),
                strict=False,
                nav=staged.nav,
                site_name=f"Account Security KB · {staged.extra['audience_label']} (preview)",
            )
            config.extra["kb"] = {**staged.extra, "search_url": ""}
            self._reuse_templates(config)
            build(config, dirty=dirty)
        except (MkDocsException, SystemExit) as error:
            messages.append(str(error))
        finally:
            logger.removeHandler(handler)
        return [Problem.error("mkdocs", 1, m) for m in messages if "dirty" not in m.lower()]

    def _reuse_templates(self, config) -> None:
        """Each MkDocs build makes a new Jinja environment, compiling the theme's templates and
        listing its files again: most of a one-page rebuild. The theme does not change during a
        preview, so compiled templates and the file listing are kept for the session."""
        from jinja2 import FileSystemBytecodeCache

        theme = config.theme
        make_env = theme.get_env
        cache_dir = self.site_dir.parent / "jinja-cache"
        cache_dir.mkdir(parents=True, exist_ok=True)
        session = self

        def get_env():
            env = make_env()
            env.bytecode_cache = FileSystemBytecodeCache(str(cache_dir))
            listing = env.list_templates

            def list_templates(extensions=None, filter_func=None):
                # MkDocs asks with the same filter (built from the unchanged config) on every build.
                key = (tuple(extensions or ()), filter_func is not None)
                if key not in session._templates:
                    session._templates[key] = listing(extensions=extensions, filter_func=filter_func)
                return list(session._templates[key])

            env.list_templates = list_templates
            return env

        theme.get_env = get_env

    def _tier2_leaks(self, markers: list[str]) -> list[Problem]:
        leaks = []
        for file in self.site_dir.rglob("*"):
            if file.suffix in TEXT_SUFFIXES and file.is_file():
                text = file.read_text(encoding="utf-8", errors="replace")
                for marker in ["tier-t2", *markers]:
                    if marker in text:
                        rel = file.relative_to(self.site_dir)
                        leaks.append(
                            Problem.error(str(rel), 1, f"Tier 1 preview would leak Tier 2 material ({marker!r})")
                        )
        return leaks

    # --- serving ----------------------------------------------------------------------------

    def server(self, host: str = "127.0.0.1", port: int = 8000):
        """MkDocs' live-reload server over the preview site, rebuilding on every save."""
        from mkdocs.livereload import LiveReloadServer

        self.site_dir.mkdir(parents=True, exist_ok=True)

        def builder() -> None:
            self.rebuild()

        server = LiveReloadServer(builder=builder, host=host, port=port, root=str(self.site_dir))
        server.watch(str(self.sop_dir))
        for path in self.watch:
            if path.is_dir():
                server.watch(str(path))
        return server

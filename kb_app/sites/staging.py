"""The staging docs dir of one audience: SOP pages as that tier reads them, index pages, assets.

Tier 1 staging never receives a `t2_only` page or the text of a Tier 2 block, so nothing
downstream (MkDocs, search index, sitemap) can leak it. Drafts are left out of the agents'
sites the same way (a link to a draft keeps its text, not its target); only a preview build
(`preview=True`, served to trainers and admins) stages them, marked as drafts.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kb_app.catalog import Catalog, Kind, Sop, Status
from kb_app.catalog.languages import SOURCE_LANGUAGE, language_name
from kb_app.catalog.validate import extract_links
from kb_app.sites import indexes
from kb_app.sites.render import TIER_LABELS, PageContext, duration_text, sop_page
from kb_app.sites.translated import ServedPage, note_text, served_page

ASSETS_DIR = "assets/kb"  # site_config/assets is copied here
MERMAID_PATH = "assets/vendor/mermaid/mermaid.min.js"
PREVIEW = "preview"  # the site key prefix of a preview build: preview-T1, preview-T2
APP_HOME = "/"  # the web app's Home, where the site logo goes (the app serves the sites under /sop/)
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")


@dataclass
class StagedSite:
    tier: str
    language: str
    docs_dir: Path
    sops: list[Sop]
    pages: list[str]  # docs paths of every Markdown page
    nav: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    served: dict[str, ServedPage] = field(default_factory=dict)  # sop id -> what its page shows

    @property
    def key(self) -> str:
        return site_key(self.tier, self.language)


def site_key(tier: str, language: str) -> str:
    """The folder of one audience's site in one language: `T1` (source language), `T1.es`."""
    return tier if language == SOURCE_LANGUAGE else f"{tier}.{language}"


def preview_key(tier: str) -> str:
    """The folder of one audience's preview build (drafts included): `preview-T1`."""
    return f"{PREVIEW}-{tier}"


def is_shown(sop: Sop, *, preview: bool) -> bool:
    """Whether a site build carries `sop`: drafts only in a preview build."""
    return preview or sop.status is not Status.DRAFT


def unlink_pages(body: str, from_page: str, hidden: set[str]) -> str:
    """`[text](page.md#x)` -> `text` for every link to a page in `hidden` (docs paths)."""
    if not hidden:
        return body
    here = posixpath.dirname(from_page)

    def replace(match: re.Match) -> str:
        path = unquote(urlsplit(match.group("target").strip("<>")).path)
        if path and posixpath.normpath(posixpath.join(here, path)) in hidden:
            return match.group("text")
        return match.group(0)

    return _LINK.sub(replace, body)


def language_site(site_dir: Path, tier: str, language: str) -> Path:
    """The built site a reader of `tier` in `language` is served; the source-language site when
    that language has none (no translation yet)."""
    translated = site_dir / site_key(tier, language)
    if language != SOURCE_LANGUAGE and (translated / "index.html").is_file():
        return translated
    return site_dir / tier


def _nav(sops: list[Sop], ctx: indexes.IndexContext, titles: dict[str, str]) -> list:
    nav: list = [{"Home": indexes.HOME}]
    for kind in (Kind.BULLETIN, Kind.SOP, Kind.ESCALATION):
        pages = ctx.of_kind(kind)
        if pages:
            nav.append({indexes.SECTION_TITLES[kind]: [{titles.get(s.id, s.title): s.rel_path} for s in pages]})
    nav.append(
        {
            "Browse": [
                {indexes.INDEX_TITLES[p]: p}
                for p in (indexes.BY_TAG, indexes.BY_TIER, indexes.ESCALATION_DIRECTORY, indexes.RECENT_CHANGES)
            ]
        }
    )
    return nav


def _t2_only_markers(catalog: Catalog) -> list[str]:
    """Fragments of the URL of every `t2_only` page, as any relative link to it would contain."""
    stems = [Path(s.rel_path).stem for s in catalog if not s.visible_to("T1")]
    return sorted({f"/{stem}/" for stem in stems} | {f"{stem}.md" for stem in stems})


def _linked_files(sop: Sop, tier: str) -> set[str]:
    """Non-Markdown files (images, PDFs) the tier's text of `sop` links to, as SOP-dir paths."""
    found = set()
    for item in extract_links(sop):
        if tier == "T1" and item.in_t2_block:
            continue
        parts = urlsplit(item.target)
        path = unquote(parts.path)
        if parts.scheme or parts.netloc or not path or path.endswith(".md"):
            continue
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(sop.rel_path), path))
        if not resolved.startswith(".."):
            found.add(resolved)
    return found


def stage_site(
    catalog: Catalog,
    tier: str,
    docs_dir: Path,
    *,
    now: datetime,
    assets_dir: Path,
    mermaid_js: Path | None,
    language: str = SOURCE_LANGUAGE,
    site_languages: list[str] | None = None,
    preview: bool = False,
) -> StagedSite:
    """Write the docs dir of `tier` in `language` and return what the MkDocs config needs to know.

    `site_languages` are the languages built for this tier (for the language switcher).
    `preview` stages the drafts too (the trainers' preview build); otherwise they are left out.
    """
    readable = catalog.for_tier(tier)
    sops = [s for s in readable if is_shown(s, preview=preview)]
    drafts = {s.rel_path for s in readable if not is_shown(s, preview=preview)}
    served = {s.id: served_page(s, catalog.translation(s.id, language), tier, language, now.date()) for s in sops}
    for page in served.values():
        page.body = unlink_pages(page.body, page.sop.rel_path, drafts)
    ctx = PageContext(tier=tier, now=now, diagrams=mermaid_js is not None, visible={s.id: s for s in sops})
    index_ctx = indexes.IndexContext(tier=tier, now=now, sops=sops)
    generated = indexes.index_pages(index_ctx)

    docs_dir.mkdir(parents=True, exist_ok=True)
    pages: list[str] = []
    for sop in sops:
        if sop.rel_path in generated:
            raise ValueError(
                f"{sop.path}: the file name {sop.rel_path} is reserved for a generated page; move it into procedures/"
            )
        target = docs_dir / sop.rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(sop_page(sop, ctx, served[sop.id]), encoding="utf-8")
        pages.append(sop.rel_path)
    for name, text in generated.items():
        (docs_dir / name).write_text(text, encoding="utf-8")
        pages.append(name)

    for rel in sorted({f for sop in sops for f in _linked_files(sop, tier)}):
        source = catalog.root / rel
        if source.is_file():
            (docs_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, docs_dir / rel)

    shutil.copytree(assets_dir, docs_dir / ASSETS_DIR, dirs_exist_ok=True)
    if mermaid_js is not None:
        (docs_dir / MERMAID_PATH).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mermaid_js, docs_dir / MERMAID_PATH)

    bulletins = [
        {
            "id": s.id,
            "title": s.title,
            "url": s.rel_path[: -len(".md")] + "/",
            "ack_within": duration_text(s.ack_within) if s.ack_within else "",
            "expires": s.expires.isoformat() if s.expires else "",
        }
        for s in index_ctx.open_bulletins()
    ]
    extra = {
        "audience": tier,
        "audience_label": TIER_LABELS[tier],
        "built_at": now.isoformat(timespec="seconds"),
        "open_bulletins": bulletins,
        "mermaid_js": MERMAID_PATH if mermaid_js is not None else "",
        "t2_only_markers": _t2_only_markers(catalog) if tier == "T1" else [],
        "banner_endpoint": "/api/v1/me/banner",
        "language": language,
        "languages": [
            {"code": code, "name": language_name(code), "current": code == language}
            for code in [SOURCE_LANGUAGE, *(site_languages or [])]
        ],
        "switch_label": note_text(language, "switch"),
        "app_home": APP_HOME,
        "preview": preview,
        "draft_markers": sorted({f"/{Path(p).stem}/" for p in drafts} | {f"{Path(p).stem}.md" for p in drafts}),
    }
    titles = {
        sop_id: (f"Draft: {page.title}" if page.sop.status is Status.DRAFT else page.title)
        for sop_id, page in served.items()
    }
    return StagedSite(
        tier=tier,
        language=language,
        docs_dir=docs_dir,
        sops=sops,
        pages=pages,
        nav=_nav(sops, index_ctx, titles),
        extra=extra,
        served=served,
    )

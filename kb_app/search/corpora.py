"""Outside corpora for measuring relevance: a Markdown handbook turned into SOP files.

Relevance is measured on our own SOPs and on a real support handbook (GitLab's support workflows
and security runbooks, Hugo Markdown with front matter). To search the handbook exactly as an SOP
is searched (same sections, anchors, analyzer and ranking), each page is written out as an SOP
file with neutral front matter, and the result is loaded with `kb_app.catalog.load_catalog`:

    ids = write_handbook_sops(handbook_dir, tmp / "sop")   # page path -> SOP id
    catalog = load_catalog(tmp / "sop")

A page's id is its path under `content/handbook/` without `.md` (and without `_index`), upper
case, with every run of other characters made a dash and `HB-` in front:
`support/workflows/2fa-removal.md` -> `HB-SUPPORT-WORKFLOWS-2FA-REMOVAL`. Hugo shortcodes are
dropped (their inner text kept); nothing else of the text is changed.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

CONTENT = Path("content") / "handbook"
ID_PREFIX = "HB-"

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_SHORTCODE = re.compile(r"\{\{[<%].*?[%>]\}\}", re.S)
_NON_ID = re.compile(r"[^A-Z0-9]+")


def handbook_pages(root: Path | str) -> list[Path]:
    """The Markdown pages of a handbook checkout (`root/content/handbook/**.md`), sorted."""
    base = Path(root) / CONTENT
    return sorted(base.rglob("*.md")) if base.is_dir() else []


def page_id(rel_path: str) -> str:
    """The SOP id of a handbook page, from its path under content/handbook."""
    stem = rel_path[:-3] if rel_path.endswith(".md") else rel_path
    if stem == "_index" or stem.endswith("/_index"):
        stem = stem[: -len("_index")].rstrip("/") or "handbook"
    return ID_PREFIX + _NON_ID.sub("-", stem.upper()).strip("-")


def _title_and_tags(front: dict, fallback: str) -> tuple[str, list[str]]:
    title = str(front.get("title") or fallback).strip() or fallback
    raw_tags = front.get("tags") or []
    tags = [raw_tags] if isinstance(raw_tags, str) else list(raw_tags)
    for key in ("category", "subcategory"):
        if front.get(key):
            tags.append(front[key])
    cleaned = []
    for tag in tags:
        slug = re.sub(r"[^a-z0-9]+", "-", str(tag).lower()).strip("-")
        if slug and slug not in cleaned:
            cleaned.append(slug)
    return title, cleaned


def sop_file_text(page_text: str, sop_id: str, fallback_title: str) -> str:
    """One handbook page as an SOP file: neutral front matter (active, both tiers) and its body."""
    match = _FRONT.match(page_text)
    front = {}
    if match:
        loaded = yaml.safe_load(match.group(1))
        front = loaded if isinstance(loaded, dict) else {}
    body = page_text[match.end() :] if match else page_text
    body = _SHORTCODE.sub("", body).strip() + "\n"
    title, tags = _title_and_tags(front, fallback_title)
    meta = {
        "id": sop_id,
        "title": title,
        "kind": "sop",
        "version": "1.0",
        "status": "active",
        "owner": "Support",
        "audience": {"tiers": ["T1", "T2"]},
        "visibility": "all",
        "effective": "2025-12-09",
        "review_by": "2099-01-01",
        "tags": tags,
        "changelog": [{"version": "1.0", "date": "2025-12-09", "summary": "Imported from the handbook."}],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body


def write_handbook_sops(root: Path | str, target: Path | str) -> dict[str, str]:
    """Write every handbook page under `root` as an SOP file under `target`; page path -> id.

    Raises ValueError when two pages would get the same id, or when `root` has no pages.
    """
    pages = handbook_pages(root)
    if not pages:
        raise ValueError(f"{root}: no Markdown pages under {CONTENT.as_posix()}/")
    base = Path(root) / CONTENT
    target = Path(target)
    ids: dict[str, str] = {}
    for page in pages:
        rel = page.relative_to(base).as_posix()
        sop_id = page_id(rel)
        if sop_id in ids.values():
            raise ValueError(f"{rel}: id {sop_id} is already used by another page")
        ids[rel] = sop_id
        out = target / f"{sop_id.lower()}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        fallback = page.parent.name if page.stem == "_index" else page.stem
        out.write_text(sop_file_text(page.read_text(encoding="utf-8"), sop_id, fallback), encoding="utf-8")
    return ids

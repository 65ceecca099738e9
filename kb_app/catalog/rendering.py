"""SOP Markdown rendered as the MkDocs site renders it, for pages of the app (what changed,
re-reading a section): the same extensions, and links between SOP files pointing at the
reader's own site. The text comes from the reviewed git corpus."""

from __future__ import annotations

import posixpath
import re

import markdown

from kb_app.catalog.sections import MARKDOWN_EXTENSION_CONFIGS, MARKDOWN_EXTENSIONS

_TRANSLATED_FILE = re.compile(r"\.[a-z]{2}\.md$")
_MD_LINK = re.compile(r"\]\((?P<target>[^)\s:#]+\.md)(?P<anchor>#[^)\s]*)?\)")


def site_url(path: str, anchor: str = "") -> str:
    """The served URL of an SOP file (`procedures/ato-recovery.md` -> `/sop/procedures/ato-recovery/`)."""
    page = path[:-3] if path.endswith(".md") else path
    page = page[: -len("index")] if page.endswith("index") else page + "/"
    return f"/sop/{page}" + (f"#{anchor}" if anchor else "")


def render_markdown(text: str, sop_path: str) -> str:
    """HTML of `text`, a part of the SOP file at `sop_path`."""
    here = posixpath.dirname(sop_path)

    def to_site(match: re.Match) -> str:
        # A translation's `x.es.md` is the page `x` of the reader's (language) site.
        target = posixpath.normpath(posixpath.join(here, _TRANSLATED_FILE.sub(".md", match.group("target"))))
        return f"]({site_url(target, (match.group('anchor') or '').lstrip('#'))})"

    text = _MD_LINK.sub(to_site, text)
    return markdown.markdown(text, extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_EXTENSION_CONFIGS)

"""Normalization and SHA-256 content hash of the text an agent reads."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata

_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    """Unicode NFC, LF line ends, no trailing spaces, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip() + "\n"


def readable_text(title: str, body: str, steps: list[dict] | None = None) -> str:
    """What an agent reads on the page: title, body and (for escalation paths) the steps."""
    parts = [f"# {title.strip()}", normalize_text(body)]
    if steps:
        parts.append(json.dumps(steps, sort_keys=True, ensure_ascii=False, default=str))
    return normalize_text("\n\n".join(parts))


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

"""The one text normalization the quiz rules share: duplicates, give-aways and short-answer grading."""

from __future__ import annotations

import unicodedata


def normalize_text(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used to spot duplicates and grade short answers."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())

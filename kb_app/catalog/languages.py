"""Languages: the ISO 639-1 codes a translation may carry, their names and writing direction.

The list lives in `kb_app/data/languages.yml`. SOP sources are written in `SOURCE_LANGUAGE`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

SOURCE_LANGUAGE = "en"
DATA_FILE = Path(__file__).resolve().parent.parent / "data" / "languages.yml"


@lru_cache(maxsize=1)
def _data() -> dict:
    with DATA_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def is_iso639_1(code: str) -> bool:
    return isinstance(code, str) and code in _data()["codes"]


def language_name(code: str) -> str:
    """The name a reader of that language recognises (native where we have it), else English."""
    data = _data()
    return data["native"].get(code) or data["codes"].get(code, code)


def english_name(code: str) -> str:
    return _data()["codes"].get(code, code)


def direction(code: str) -> str:
    return "rtl" if code in _data()["rtl"] else "ltr"

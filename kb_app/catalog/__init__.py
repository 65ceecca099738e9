"""The SOP catalog: load, validate, hash and diff the procedures in `sop/` (no Flask here)."""

from kb_app.catalog.diff import SopDiff, diff_texts
from kb_app.catalog.model import Catalog, Sop, load_catalog, load_sop, parse_sop
from kb_app.catalog.schema import Kind, Status, Visibility, parse_duration, parse_version
from kb_app.catalog.sections import Section, split_sections, text_for_tier
from kb_app.catalog.validate import ValidationReport, validate, validate_catalog

__all__ = [
    "Catalog",
    "Kind",
    "Section",
    "Sop",
    "SopDiff",
    "Status",
    "ValidationReport",
    "Visibility",
    "diff_texts",
    "load_catalog",
    "load_sop",
    "parse_duration",
    "parse_sop",
    "parse_version",
    "split_sections",
    "text_for_tier",
    "validate",
    "validate_catalog",
]

"""Static MkDocs Material sites of the SOP catalog, one per audience (Tier 1, Tier 2).

`build_sites` validates the catalog, writes a staging docs dir per audience (each page as that
tier reads it, plus generated index pages), builds it with MkDocs in strict mode and swaps the
result in atomically. `mkdocs.yml` and `site_config/` hold the theme side.
"""

from kb_app.sites.build import (
    AUDIENCES,
    AudienceBuild,
    BuildResult,
    SiteBuildError,
    build_sites,
    discard_builds,
    live_site_keys,
    planned_site_keys,
    restore_builds,
    site_catalog_hash,
    swap_in_builds,
)
from kb_app.sites.vendor import VendoredAsset, VendorError, ensure_mermaid, find_mermaid, vendor_mermaid

__all__ = [
    "AUDIENCES",
    "AudienceBuild",
    "BuildResult",
    "discard_builds",
    "live_site_keys",
    "planned_site_keys",
    "restore_builds",
    "site_catalog_hash",
    "swap_in_builds",
    "SiteBuildError",
    "VendorError",
    "VendoredAsset",
    "build_sites",
    "ensure_mermaid",
    "find_mermaid",
    "vendor_mermaid",
]

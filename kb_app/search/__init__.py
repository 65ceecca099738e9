"""SOP search: a Whoosh index of SOP sections per audience tier, and forgiving queries over it.

The web layer and the `kb` command use only what is exported here:

    report = build_index(sop_dir, index_dir, progress=print)    # `kb index`
    service = SearchService(index_dir)                           # one per process, thread-safe
    results = service.search("2fa reset", tier="T1", limit=10)   # SearchResults, one hit per section
    grouped = service.search("2fa reset", tier="T1", group="sop")  # grouped.groups: one per SOP
"""

from kb_app.search.index import (
    BuildError,
    BuildReport,
    IndexNotFound,
    SearchIndexError,
    build_index,
    current_build,
    rollback,
)
from kb_app.search.query import parse_query
from kb_app.search.results import PinnedBulletin, SearchGroup, SearchHit, SearchResults
from kb_app.search.service import SearchService
from kb_app.search.synonyms import SynonymTable, load_synonyms

__all__ = [
    "BuildError",
    "BuildReport",
    "IndexNotFound",
    "PinnedBulletin",
    "SearchGroup",
    "SearchHit",
    "SearchIndexError",
    "SearchResults",
    "SearchService",
    "SynonymTable",
    "build_index",
    "current_build",
    "load_synonyms",
    "parse_query",
    "rollback",
]

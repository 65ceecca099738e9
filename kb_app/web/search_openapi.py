"""OpenAPI description of the search route (added to the shared document)."""

from __future__ import annotations

from kb_app.web import openapi

_ERROR = {"$ref": "#/components/responses/Error"}


def _filter(name: str, text: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": text + " Repeat to widen; different filters narrow together.",
        "schema": {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 8},
        "style": "form",
        "explode": True,
    }


PATHS = {
    "/search": {
        "get": {
            "summary": "Search the SOPs the caller may read (their own tier only)",
            "description": "Searches the caller's audience: Tier 1 agents and partner managers search the Tier 1 SOPs, "
            "everyone else Tier 2. No parameter widens it, and a Tier 1 caller's results, counts, facets, snippets and "
            "suggestions never reflect Tier 2-only material. The query language: words (typos, acronyms and synonyms "
            'forgiven), "quoted phrases", `word*`, and filters `tag:`, `kind:`, `id:` (also `id:ESC-*`), `status:`. '
            "A first page is recorded for the training team's search analytics without the caller's identity (tier, role "
            "and vendor only; e-mail addresses and long numbers are redacted). Send the previous response's `search_token` "
            "as `refines` while the user is still typing, so one typing burst counts as one search. "
            "503 `index_not_built` until `kb index` has run.",
            "operationId": "search",
            "parameters": [
                {
                    "name": "q",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 300},
                    "description": "The query.",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
                },
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 0},
                },
                _filter("kind", "Only this kind: sop, escalation or bulletin."),
                _filter("tag", "Only SOPs with this tag."),
                _filter("id", "Only this SOP id (`ESC-*` for a prefix)."),
                {
                    "name": "refines",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "The `search_token` of the previous response while the user is still typing.",
                },
            ],
            "responses": {
                "200": {
                    "description": "Results",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SearchResults"}}},
                },
                "400": _ERROR,
                "401": _ERROR,
                "429": _ERROR,
                "503": _ERROR,
            },
        }
    },
}

SCHEMAS = {
    "SearchResult": {
        "type": "object",
        "description": "One matching section of an SOP.",
        "properties": {
            "sop_id": {"type": "string"},
            "title": {"type": "string"},
            "section": {
                "type": "string",
                "description": "The section heading (the SOP title for text before the first heading)",
            },
            "anchor": {
                "type": "string",
                "description": "The heading's anchor; empty for text before the first heading",
            },
            "url": {
                "type": "string",
                "description": "The section in the caller's own SOP site, e.g. /sop/procedures/ato-recovery/#verify-ownership",
            },
            "open_url": {
                "type": "string",
                "description": "The same page through /search/open, which records that the result was opened",
            },
            "snippet": {
                "type": "string",
                "description": "HTML: escaped text with <mark> around the matched words, and no other markup",
            },
            "score": {"type": "number"},
            "version": {"type": "string"},
            "kind": {"type": "string", "enum": ["sop", "escalation", "bulletin"]},
            "status": {"type": "string", "enum": ["active", "retired"]},
            "retired": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "owner": {"type": "string"},
            "language": {"type": "string", "description": "Language of the section found (ISO 639-1)"},
        },
    },
    "PinnedBulletin": {
        "type": "object",
        "description": "An open bulletin of the caller's tier, shown above the results whatever the query.",
        "properties": {
            "sop_id": {"type": "string"},
            "title": {"type": "string"},
            "version": {"type": "string"},
            "url": {"type": "string"},
            "expires": {"type": ["string", "null"], "format": "date-time"},
            "matched": {
                "type": "boolean",
                "description": "The query matched one of its sections (url then points there)",
            },
        },
    },
    "SearchResults": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "The query as read (cleaned)"},
            "tier": {
                "type": "string",
                "enum": ["T1", "T2"],
                "description": "The tier searched: always the caller's own",
            },
            "total": {"type": "integer", "description": "Matching sections, all pages"},
            "total_sops": {"type": "integer", "description": "SOPs those sections belong to"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/SearchResult"}},
            "facets": {
                "type": "object",
                "description": "Matching sections per kind and per tag (the 20 most frequent tags)",
                "properties": {
                    "kind": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "tag": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
            },
            "suggestions": {"type": "array", "items": {"type": "string"}, "description": '"Did you mean" queries'},
            "pinned": {"type": "array", "items": {"$ref": "#/components/schemas/PinnedBulletin"}},
            "filters": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "description": "Filters in effect, typed and passed",
            },
            "build_id": {"type": "string", "description": "The index build that answered"},
            "language": {
                "type": "string",
                "description": "The reader's language when its translations were searched first (else en)",
            },
            "search_token": {
                "type": ["string", "null"],
                "description": "Names the recorded search; send it as `refines` with the next keystroke's query",
            },
        },
    },
}

openapi.PATHS.update(PATHS)
openapi.SCHEMAS.update(SCHEMAS)

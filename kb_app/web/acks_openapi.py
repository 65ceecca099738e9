"""OpenAPI description of the acknowledgement and coverage routes (added to the shared document)."""

from __future__ import annotations

from kb_app.web import openapi

_ERROR = {"$ref": "#/components/responses/Error"}


def _json(schema_name: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
    }


PATHS = {
    "/reading-list": {
        "get": {
            "summary": "The agent's open, unacknowledged requirements, soonest due first",
            "operationId": "getReadingList",
            "responses": {"200": _json("ReadingList", "Reading list"), "401": _ERROR, "403": _ERROR},
        }
    },
    "/sops/{sop_id}/changes": {
        "get": {
            "summary": "What changed in an SOP since the version the agent last acknowledged",
            "description": "Sections with added/removed lines, or the full text when the agent never acknowledged it. "
            "`content_hash` is what POST /acknowledgements must send.",
            "operationId": "getSopChanges",
            "parameters": [
                {"name": "sop_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "language",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "Read in this language (default: the agent's roster language)",
                },
            ],
            "responses": {"200": _json("SopChanges", "Changes"), "401": _ERROR, "403": _ERROR, "404": _ERROR},
        }
    },
    "/acknowledgements": {
        "post": {
            "summary": "Acknowledge the current version of an SOP (idempotent)",
            "description": "201 when recorded, 200 with the first record when already acknowledged. 409 `superseded` when "
            "`version` is not current, 409 `hash_mismatch` when `content_hash` is not the text the agent's tier reads, "
            "403 outside the agent's audience, 404 for SOPs the agent cannot read.",
            "operationId": "acknowledge",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AcknowledgementRequest"}}},
            },
            "responses": {
                "200": _json("Acknowledgement", "Already acknowledged: the first record"),
                "201": _json("Acknowledgement", "Recorded"),
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
                "404": _ERROR,
                "409": _ERROR,
            },
        }
    },
    "/me/banner": {
        "get": {
            "summary": "What an SOP page tells the signed-in reader, and open bulletins",
            "operationId": "getBanner",
            "parameters": [
                {
                    "name": "path",
                    "in": "query",
                    "schema": {"type": "string"},
                    "description": "The page path, e.g. /sop/procedures/ato-recovery/",
                }
            ],
            "responses": {"200": _json("Banner", "Banner"), "401": _ERROR},
        }
    },
    "/coverage": {
        "get": {
            "summary": "Acknowledgement coverage, rolled up (partner managers: their vendor only)",
            "operationId": "getCoverage",
            "parameters": [
                {
                    "name": "by",
                    "in": "query",
                    "schema": {"type": "string", "default": "requirement"},
                    "description": "Comma-separated: requirement, sop, vendor, site, team, team_leader, language, tier.",
                },
                *(
                    {"name": n, "in": "query", "schema": {"type": t}}
                    for n, t in (
                        ("requirement", "integer"),
                        ("sop", "string"),
                        ("vendor", "string"),
                        ("site", "string"),
                        ("team", "string"),
                    )
                ),
            ],
            "responses": {"200": _json("Coverage", "Coverage rows"), "400": _ERROR, "401": _ERROR, "403": _ERROR},
        }
    },
}

_COVERAGE_ROW = {
    "type": "object",
    "additionalProperties": True,
    "description": "The grouping columns, then the counts.",
    "properties": {
        "population": {"type": "integer"},
        "on_time": {"type": "integer"},
        "late": {"type": "integer"},
        "pending": {"type": "integer"},
        "overdue": {"type": "integer"},
        "awaiting_quiz": {
            "type": "integer",
            "description": "Of pending and overdue: acknowledged, gating update quiz not passed yet",
        },
        "acknowledged_pct": {"type": "number"},
        "median_hours_to_ack": {"type": ["number", "null"]},
    },
}

SCHEMAS = {
    "ReadingList": {
        "type": "object",
        "properties": {
            "quiz_review": {
                "description": "Reading tasks after a failed quiz: the sections behind the missed questions",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "task_id": {"type": "integer"},
                        "bank_id": {"type": "string"},
                        "sources": {"type": "array", "items": {"type": "string"}},
                        "sections_read": {"type": "integer"},
                        "all_read": {"type": "boolean"},
                    },
                },
            },
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "requirement_id": {"type": "integer"},
                        "sop_id": {"type": "string"},
                        "title": {"type": "string"},
                        "version": {"type": "string"},
                        "summary": {"type": "string"},
                        "due_at": {"type": "string", "format": "date-time"},
                        "status": {"type": "string", "enum": ["pending", "overdue"]},
                        "is_bulletin": {"type": "boolean"},
                        "last_acknowledged_version": {"type": ["string", "null"]},
                        "path": {"type": "string"},
                    },
                },
            },
        },
    },
    "SopChanges": {
        "type": "object",
        "properties": {
            "sop_id": {"type": "string"},
            "version": {"type": "string"},
            "content_hash": {"type": "string"},
            "previous_version": {"type": ["string", "null"]},
            "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
            "sections": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "properties": {
                        "anchor": {"type": "string"},
                        "heading": {"type": "string"},
                        "status": {"type": "string", "enum": ["added", "removed", "changed", "unchanged"]},
                        "lines": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "kind": {"type": "string", "enum": ["add", "remove", "context", "skip"]},
                                    "text": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
            "text": {"type": ["string", "null"], "description": "Full text when the agent never acknowledged this SOP"},
            "language": {
                "type": "string",
                "description": "Language of the text (ISO 639-1); send it back when acknowledging",
            },
            "translation_state": {
                "type": ["string", "null"],
                "enum": ["current", "minor-behind", "stale", "missing", None],
                "description": "How the agent's language's translation stands; stale or missing means the source text is served",
            },
        },
    },
    "AcknowledgementRequest": {
        "type": "object",
        "required": ["sop_id", "content_hash"],
        "properties": {
            "sop_id": {"type": "string", "maxLength": 64},
            "content_hash": {"type": "string", "maxLength": 128},
            "version": {"type": "string", "description": "Optional: refuse if this is not the current version"},
            "language": {
                "type": "string",
                "maxLength": 8,
                "description": "Language of the text read (from GET /sops/{sop_id}/changes); 409 `translation_stale` "
                "when that text is a translation missing the current major change",
            },
        },
    },
    "Acknowledgement": {
        "type": "object",
        "properties": {
            "sop_id": {"type": "string"},
            "version": {"type": "string"},
            "content_hash": {"type": "string"},
            "acknowledged_at": {"type": "string", "format": "date-time"},
            "channel": {"type": "string", "enum": ["web", "api", "cli"]},
            "language": {"type": "string", "description": "Language of the text acknowledged"},
            "created": {"type": "boolean"},
        },
    },
    "Banner": {
        "type": "object",
        "properties": {
            "text": {
                "type": "string",
                "description": "One line for the page's announce bar; empty when there is nothing to say",
            },
            "level": {"type": "string", "enum": ["info", "warning", "danger"]},
            "url": {"type": ["string", "null"], "description": "Where the text links to"},
            "page": {
                "type": ["object", "null"],
                "properties": {
                    "sop_id": {"type": "string"},
                    "state": {"type": "string", "enum": ["acknowledged", "action_required", "overdue", "none"]},
                    "version": {"type": "string"},
                    "acknowledged_at": {"type": ["string", "null"]},
                    "due_at": {"type": ["string", "null"]},
                    "read_url": {"type": "string"},
                },
            },
            "bulletins": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "sop_id": {"type": "string"},
                        "title": {"type": "string"},
                        "version": {"type": "string"},
                        "url": {"type": "string"},
                        "expires_at": {"type": ["string", "null"]},
                    },
                },
            },
        },
    },
    "Coverage": {"type": "object", "properties": {"rows": {"type": "array", "items": _COVERAGE_ROW}}},
}

openapi.PATHS.update(PATHS)
openapi.SCHEMAS.update(SCHEMAS)

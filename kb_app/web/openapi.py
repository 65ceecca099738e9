"""The OpenAPI 3.1 description of /api/v1. Later features add their paths to `PATHS`."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from kb_app import __version__

_ERROR = {"$ref": "#/components/responses/Error"}
_ROSTER_FILTERS = [
    {"name": name, "in": "query", "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("vendor", "Vendor code. A partner manager may only name their own vendor (else 403)."),
        ("site", "Site code, e.g. manila."),
        ("team", "Team name."),
        ("tier", "T1 or T2."),
        ("language", "ISO 639-1 code."),
        ("active", "true or false; both when absent."),
        ("q", "Substring of name, employee id or email."),
    )
]

PATHS: dict[str, Any] = {
    "/me": {
        "get": {
            "summary": "The signed-in user or token owner",
            "operationId": "getMe",
            "responses": {
                "200": {"description": "The user", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Me"}}}},
                "401": _ERROR,
            },
        }
    },
    "/roster": {
        "get": {
            "summary": "Roster entries, a page at a time (partner managers: their vendor only)",
            "operationId": "listRoster",
            "parameters": _ROSTER_FILTERS
            + [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
            ],
            "responses": {
                "200": {
                    "description": "A page of agents",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RosterPage"}}},
                },
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
            },
        }
    },
    "/roster/summary": {
        "get": {
            "summary": "Agent counts per group, computed in the database",
            "operationId": "rosterSummary",
            "parameters": [
                {
                    "name": "by",
                    "in": "query",
                    "description": "Comma-separated: 1 to 3 of vendor, site, team, tier, language.",
                    "schema": {"type": "string", "default": "vendor,site"},
                },
                _ROSTER_FILTERS[0],
            ],
            "responses": {
                "200": {
                    "description": "Counts",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RosterSummary"}}},
                },
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
            },
        }
    },
    "/roster/{employee_id}": {
        "get": {
            "summary": "One roster entry (404 when it is not on your vendor's roster)",
            "operationId": "getRosterAgent",
            "parameters": [{"name": "employee_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "The agent", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Agent"}}}},
                "401": _ERROR,
                "403": _ERROR,
                "404": _ERROR,
            },
        }
    },
    "/roster/import": {
        "post": {
            "summary": "Upsert roster entries by employee id, all or nothing (admins)",
            "operationId": "importRoster",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RosterImport"}}},
            },
            "responses": {
                "200": {
                    "description": "What changed (or would change, for a dry run)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ImportResult"}}},
                },
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
                "422": _ERROR,
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "operationId": "getOpenApi",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 document", "content": {"application/json": {}}}},
        }
    },
}

_COUNTS = {
    "agents": {"type": "integer"},
    "active": {"type": "integer"},
    "inactive": {"type": "integer"},
    "t1": {"type": "integer", "description": "active Tier 1 agents"},
    "t2": {"type": "integer", "description": "active Tier 2 agents"},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "examples": ["not_found", "rate_limited"]},
                    "message": {"type": "string"},
                    "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
                },
            }
        },
    },
    "Problem": {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "line": {"type": "integer"},
            "severity": {"type": "string"},
            "message": {"type": "string"},
        },
    },
    "Agent": {
        "type": "object",
        "required": ["employee_id", "name", "email", "tier", "vendor", "site", "team", "language", "start_date", "active"],
        "properties": {
            "employee_id": {"type": "string"},
            "name": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "tier": {"type": "string", "enum": ["T1", "T2"]},
            "vendor": {"type": "string", "description": "BPO vendor code or in-house"},
            "site": {"type": "string"},
            "team": {"type": "string"},
            "language": {"type": "string"},
            "manager": {"type": ["string", "null"]},
            "start_date": {"type": "string", "format": "date"},
            "active": {"type": "boolean"},
        },
    },
    "Me": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "role": {"type": "string", "enum": ["agent", "partner_manager", "trainer", "admin"]},
            "vendor": {"type": ["string", "null"]},
            "audience": {"type": "string", "enum": ["T1", "T2"]},
            "agent": {"oneOf": [{"$ref": "#/components/schemas/Agent"}, {"type": "null"}]},
        },
    },
    "RosterPage": {
        "type": "object",
        "properties": {
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "agents": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}},
        },
    },
    "RosterSummary": {
        "type": "object",
        "properties": {
            "by": {"type": "array", "items": {"type": "string"}},
            "vendor": {"type": ["string", "null"]},
            "groups": {"type": "array", "items": {"type": "object", "additionalProperties": True, "properties": _COUNTS}},
            "totals": {"type": "object", "properties": _COUNTS},
        },
    },
    "RosterImport": {
        "type": "object",
        "required": ["agents"],
        "properties": {
            "agents": {
                "type": "array",
                "items": {
                    "type": "object",
                    "description": "Same fields as the roster CSV; manager and active optional.",
                    "properties": {
                        "employee_id": {"type": "string"},
                        "name": {"type": "string"},
                        "email": {"type": "string"},
                        "tier": {"type": "string"},
                        "vendor": {"type": "string"},
                        "site": {"type": "string"},
                        "team": {"type": "string"},
                        "language": {"type": "string"},
                        "manager": {"type": ["string", "null"]},
                        "start_date": {"type": "string", "format": "date"},
                        "active": {"type": ["boolean", "string"]},
                    },
                },
            },
            "deactivate_missing": {"type": "boolean", "default": False},
            "dry_run": {"type": "boolean", "default": False},
        },
    },
    "ImportResult": {
        "type": "object",
        "properties": {
            "dry_run": {"type": "boolean"},
            "counts": {
                "type": "object",
                "properties": {k: {"type": "integer"} for k in ("new", "changed", "unchanged", "deactivated")},
            },
            "changed_fields": {"type": "object", "additionalProperties": {"type": "integer"}},
            "changes": {"type": "array", "items": {"type": "object"}},
            "deactivated": {"type": "array", "items": {"type": "string"}},
        },
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Account Security knowledge base API",
            "version": __version__,
            "description": "Errors are JSON: {\"error\": {\"code\": ..., \"message\": ...}}.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": deepcopy(PATHS),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Token from `kb token create`."},
                "session": {"type": "apiKey", "in": "cookie", "name": "kb_session"},
            },
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
            "schemas": deepcopy(SCHEMAS),
        },
    }

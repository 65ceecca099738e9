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

_ATTEMPT_ID = {
    "name": "attempt_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "description": "The attempt id returned when it was started.",
}

PATHS: dict[str, Any] = {
    "/me": {
        "get": {
            "summary": "The signed-in user or token owner",
            "operationId": "getMe",
            "responses": {
                "200": {
                    "description": "The user",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Me"}}},
                },
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
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                },
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
                "200": {
                    "description": "The agent",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Agent"}}},
                },
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
    "/quiz-banks": {
        "get": {
            "summary": "Quiz banks: for an agent, those they may take, with when they may start each; for staff, every bank",
            "operationId": "listQuizBanks",
            "responses": {
                "200": {
                    "description": "Banks",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QuizBankList"}}},
                },
                "401": _ERROR,
                "403": _ERROR,
            },
        }
    },
    "/quiz-attempts": {
        "post": {
            "summary": "Start an attempt (the server draws the questions), or resume the open one",
            "description": "Refusals: 404 unknown_bank; 403 not_an_agent, inactive, tier_not_allowed; "
            "429 cooldown or attempt_limit (with available_at); 409 remediation_required after a failed attempt until "
            "the missed sections are read (with remediation_task_id, and available_at when the cool-down also unlocks it). "
            "The answer holds no answer keys, explanations or sources.",
            "operationId": "startQuizAttempt",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["bank_id"],
                            "properties": {"bank_id": {"type": "string", "maxLength": 64}},
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "A new attempt",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QuizAttemptTaker"}}},
                },
                "200": {
                    "description": "The attempt already open",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QuizAttemptTaker"}}},
                },
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
                "404": _ERROR,
                "409": _ERROR,
                "413": _ERROR,
                "429": _ERROR,
            },
        }
    },
    "/quiz-attempts/{attempt_id}": {
        "get": {
            "summary": "One of your attempts: the taker view while open, the result and review once finished",
            "operationId": "getQuizAttempt",
            "parameters": [_ATTEMPT_ID],
            "responses": {
                "200": {
                    "description": "The attempt",
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/QuizAttemptTaker"},
                                    {"$ref": "#/components/schemas/QuizResult"},
                                ]
                            }
                        }
                    },
                },
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
                "404": _ERROR,
            },
        }
    },
    "/quiz-attempts/{attempt_id}/submit": {
        "post": {
            "summary": "Submit the answers; graded on the server, once",
            "description": 'Answers map the attempt\'s question keys to answers in its option ids: single "b"; '
            'multiple ["a", "c"]; true_false true; ordering every item id first to last; short_answer text (at most 200 characters). '
            "Refusals: 400 bad_attempt_id; 403 not_your_attempt; 404 attempt_not_found; 409 already_submitted or "
            "time_limit_passed; 413 payload_too_large (over 64 KiB); 422 invalid_answers (a question not in the attempt, "
            "an unknown option, a wrong shape).",
            "operationId": "submitQuizAttempt",
            "parameters": [_ATTEMPT_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["answers"],
                            "properties": {"answers": {"type": "object", "additionalProperties": True}},
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The result and review",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/QuizResult"}}},
                },
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
                "404": _ERROR,
                "409": _ERROR,
                "413": _ERROR,
                "422": _ERROR,
            },
        }
    },
    "/me/certifications": {
        "get": {
            "summary": "Your certifications (valid, expiring, recertification due, expired, none) and the update quizzes your acknowledgements wait for",
            "operationId": "getMyCertifications",
            "responses": {
                "200": {
                    "description": "Certifications",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MyCertifications"}}},
                },
                "401": _ERROR,
                "403": _ERROR,
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
    "QuizAttemptTaker": {
        "type": "object",
        "description": "What the taker sees: no answer keys, feedback, explanations or sources.",
        "properties": {
            "attempt_id": {"type": "string"},
            "status": {"type": "string", "enum": ["open"]},
            "created": {"type": "boolean", "description": "POST only: false when an open attempt was resumed"},
            "started_at": {"type": "string", "format": "date-time"},
            "deadline": {"type": "string", "format": "date-time"},
            "seconds_left": {"type": "integer"},
            "bank": {"type": "object", "properties": {k: {"type": "string"} for k in ("id", "title", "kind", "tier")}},
            "time_limit_minutes": {"type": "integer"},
            "pass_mark": {"type": "integer"},
            "points_max": {"type": "integer"},
            "questions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string", "examples": ["q1"]},
                        "number": {"type": "integer"},
                        "type": {
                            "type": "string",
                            "enum": [
                                "single",
                                "multiple",
                                "true_false",
                                "ordering",
                                "short_answer",
                                "matching",
                                "numerical",
                            ],
                        },
                        "points": {"type": "integer"},
                        "stem": {"type": "string"},
                        "options": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"id": {"type": "string"}, "text": {"type": "string"}},
                            },
                        },
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"id": {"type": "string"}, "text": {"type": "string"}},
                            },
                        },
                        "prompts": {
                            "description": "matching: the items to match, numbered 1, 2 ... (answer keys)",
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"id": {"type": "string"}, "text": {"type": "string"}},
                            },
                        },
                        "choices": {
                            "description": "matching: the answers to pick from, a, b ... (answer values)",
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"id": {"type": "string"}, "text": {"type": "string"}},
                            },
                        },
                        "unit": {"type": ["string", "null"], "description": "numerical: the unit of the answer"},
                        "max_length": {"type": "integer"},
                        "answer_shape": {"type": "string"},
                    },
                },
            },
        },
    },
    "QuizResult": {
        "type": "object",
        "description": "A finished attempt; questions carry right answers and explanations only when the bank shows them.",
        "properties": {
            "attempt_id": {"type": "string"},
            "status": {"type": "string", "enum": ["submitted", "expired"]},
            "bank": {"type": "object"},
            "started_at": {"type": "string", "format": "date-time"},
            "submitted_at": {"type": ["string", "null"], "format": "date-time"},
            "score": {"type": "number"},
            "max_score": {"type": "integer"},
            "percent": {"type": "number"},
            "pass_mark": {"type": "integer"},
            "passed": {"type": "boolean"},
            "shows_answers": {"type": "boolean"},
            "questions": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        },
    },
    "QuizBankList": {
        "type": "object",
        "properties": {
            "banks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": True,
                    "properties": {
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "kind": {"type": "string"},
                        "tier": {"type": "string"},
                        "sops": {"type": "array", "items": {"type": "string"}},
                        "version": {"type": ["string", "null"]},
                        "available": {"type": "boolean"},
                        "available_at": {"type": ["string", "null"], "format": "date-time"},
                        "unavailable_reason": {
                            "type": ["string", "null"],
                            "enum": ["cooldown", "attempt_limit", "remediation", None],
                        },
                        "remediation_task_id": {
                            "type": ["integer", "null"],
                            "description": "the reading task whose sections unlock the retry",
                        },
                        "open_attempt_id": {"type": ["string", "null"]},
                        "passed_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            }
        },
    },
    "MyCertifications": {
        "type": "object",
        "properties": {
            "certifications": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "bank_id": {"type": "string"},
                        "title": {"type": "string"},
                        "state": {
                            "type": "string",
                            "enum": ["valid", "expiring", "recertification_due", "expired", "none"],
                        },
                        "certified": {"type": "boolean"},
                        "certified_at": {"type": ["string", "null"], "format": "date-time"},
                        "expires_at": {"type": ["string", "null"], "format": "date-time"},
                        "recertification_due_at": {"type": ["string", "null"], "format": "date-time"},
                        "recertification_overdue": {"type": "boolean"},
                        "changed_sops": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "update_quizzes_required": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "sop_id": {"type": "string"},
                        "version": {"type": "string"},
                        "bank_ids": {"type": "array", "items": {"type": "string"}},
                        "due_at": {"type": "string", "format": "date-time"},
                        "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
        },
    },
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
        "required": [
            "employee_id",
            "name",
            "email",
            "tier",
            "vendor",
            "site",
            "team",
            "language",
            "start_date",
            "active",
        ],
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
            "groups": {
                "type": "array",
                "items": {"type": "object", "additionalProperties": True, "properties": _COUNTS},
            },
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
            "description": 'Errors are JSON: {"error": {"code": ..., "message": ...}}.',
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

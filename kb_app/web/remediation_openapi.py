"""OpenAPI description of the remediation routes, with the response shapes as pydantic models."""

from __future__ import annotations

from pydantic import BaseModel

from kb_app.web import openapi

_ERROR = {"$ref": "#/components/responses/Error"}


class RemediationSectionOut(BaseModel):
    section_id: int
    source: str
    questions_missed: int
    read_at: str | None


class RemediationTaskOut(BaseModel):
    task_id: int
    bank_id: str
    bank_title: str
    assigned_at: str
    read_at: str | None
    sections: list[RemediationSectionOut]


class RemediationTaskList(BaseModel):
    tasks: list[RemediationTaskOut]


class InRemediationRow(BaseModel):
    task_id: int
    employee_id: str
    name: str
    vendor: str
    site: str
    team: str
    bank_id: str
    kind: str
    since: str
    sections: int
    sections_read: int
    status: str


class InRemediationList(BaseModel):
    in_remediation: list[InRemediationRow]


MODELS = (RemediationTaskList, InRemediationList)


def _json(name: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


def _schemas() -> dict:
    schemas: dict = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


_IDS = [
    {"name": "task_id", "in": "path", "required": True, "schema": {"type": "integer"}},
    {"name": "section_id", "in": "path", "required": True, "schema": {"type": "integer"}},
]

PATHS = {
    "/me/remediation": {
        "get": {
            "summary": "The agent's open reading tasks after a failed quiz: the sections behind the missed questions",
            "operationId": "getMyRemediation",
            "responses": {"200": _json("RemediationTaskList", "Open reading tasks"), "401": _ERROR, "403": _ERROR},
        }
    },
    "/me/remediation/{task_id}/sections/{section_id}/read": {
        "post": {
            "summary": "Mark one missed section read (idempotent); when all are, the retry may unlock",
            "operationId": "markRemediationSectionRead",
            "parameters": _IDS,
            "responses": {"200": _json("RemediationTaskOut", "The task"), "401": _ERROR, "403": _ERROR, "404": _ERROR},
        }
    },
    "/quiz-remediation": {
        "get": {
            "summary": "Who is in remediation now (partner managers: their own vendor)",
            "operationId": "getInRemediation",
            "parameters": [{"name": "vendor", "in": "query", "required": False, "schema": {"type": "string"}}],
            "responses": {"200": _json("InRemediationList", "Open tasks"), "401": _ERROR, "403": _ERROR},
        }
    },
}

openapi.PATHS.update(PATHS)
openapi.SCHEMAS.update(_schemas())

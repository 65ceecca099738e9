"""The API contract: routes declare pydantic models, answers go through them, the document is
generated from them (and the autouse fixture in fixtures/contract.py checks every answer)."""

from __future__ import annotations

import sys

from flask import Blueprint

from kb_app.web.api_models import Me
from kb_app.web.contract import Contract


def test_every_api_route_is_declared_in_the_contract(app):
    from kb_app.web.api import api

    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            assert api.operation_for(rule.endpoint) is not None, f"{rule.rule} is not declared with api.route"


def test_the_document_has_no_hand_written_parts_left(client):
    document = client.get("/api/v1/openapi.json").get_json()
    banner = document["components"]["schemas"]["PageBanner"]["properties"]["state"]
    assert "quiz_required" in banner["enum"]  # the drift issue 10 found is gone
    reading_item = document["components"]["schemas"]["ReadingItem"]["properties"]
    assert {"acknowledged_at", "quiz_required"} <= set(reading_item)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["operationId"] and operation["summary"], (path, method)
            assert all(status.isdigit() for status in operation["responses"]), (path, method)


def test_a_view_cannot_answer_a_shape_its_contract_does_not_declare(make_app):
    app = make_app()
    blueprint = Blueprint("contract_probe", __name__, url_prefix="/probe")
    probe = Contract(blueprint, title="probe", version="0", description="")

    @probe.route("/wrong", summary="answers a dict", responses={200: Me}, public=True)
    def wrong():
        return {"id": 1}

    @probe.route("/status", summary="answers an undeclared status", responses={200: Me}, public=True)
    def status():
        return Me(id=1, email="a@b", name="", role="admin", vendor=None, audience="T2", agent=None), 299

    app.register_blueprint(blueprint)
    errors = []
    app.logger.exception = lambda message, *args, **kwargs: errors.append(repr(sys.exc_info()[1]))
    assert app.test_client().get("/probe/wrong").status_code == 500
    assert app.test_client().get("/probe/status").status_code == 500
    assert "declared response model" in errors[0] and "does not declare" in errors[1]


def test_a_query_parameter_is_never_nullable_in_the_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                assert {"type": "null"} not in parameter["schema"].get("anyOf", []), parameter

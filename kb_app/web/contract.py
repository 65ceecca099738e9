"""The /api/v1 contract, generated from code.

Every API route is declared with `api.route(...)`: its pydantic query, path and body models and
its response models by status. The wrapper validates the request against those models (any
malformed, oversized or out-of-range value is a 400 JSON error naming the field, before the view
runs), serialises the view's answer through the declared response model (a view cannot answer
a shape the contract does not describe), and `document()` builds `/api/v1/openapi.json` from the
same declarations with pydantic's own JSON Schema generator. So the document cannot drift from
what the API answers; `tests/web/test_contract.py` checks every API response the tests see.

Only the web layer imports this module; the models themselves live in `kb_app.web.api_models`.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Callable, Iterable

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import GenerateJsonSchema
from werkzeug.datastructures import MultiDict

from kb_app.web.errors import ApiError

REF_TEMPLATE = "#/components/schemas/{model}"
# Errors every authenticated operation can answer: a malformed request, no credentials, the
# per-user rate limit. Operations with a body add 413 and 415.
COMMON_ERRORS = (400, 401, 429)
BODY_ERRORS = (413, 415)
ERROR_DESCRIPTIONS = {
    400: "The request is malformed or a value is out of range (`problems` names each field)",
    401: "No valid credentials",
    403: "Not for your role or scope",
    404: "No such thing, or not one you may see",
    409: "Conflicts with the current state",
    413: "The body is too large",
    415: "The body is not JSON",
    422: "Well-formed but refused (`problems` says why)",
    429: "Rate limited",
    503: "Not available right now: the database is unreachable (`Retry-After` says when to try again), or what is asked is not built yet",
}
_CONVERTER = re.compile(r"<(?:(?P<converter>[a-z]+):)?(?P<name>\w+)>")


class ErrorDetail(BaseModel):
    code: str
    message: str
    problems: list[dict[str, Any]] | None = None

    model_config = {"extra": "allow", "title": "ErrorDetail"}


class Error(BaseModel):
    """Every error the API answers: `{"error": {"code": ..., "message": ...}}`."""

    error: ErrorDetail


@dataclass
class Operation:
    endpoint: str
    rule: str  # the Flask rule under the blueprint prefix, e.g. /roster/<employee_id>
    method: str
    operation_id: str
    summary: str
    description: str
    responses: dict[int, Any]  # status -> response type (a model, or a union of models)
    errors: tuple[int, ...]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    path: type[BaseModel] | None = None
    public: bool = False
    tags: tuple[str, ...] = ()
    adapters: dict[int, TypeAdapter] = field(default_factory=dict)

    @property
    def openapi_path(self) -> str:
        return _CONVERTER.sub(lambda m: "{" + m.group("name") + "}", self.rule)

    def allowed_models(self, status: int) -> tuple[type, ...]:
        return _models_of(self.responses[status])


def _models_of(annotation: Any) -> tuple[type, ...]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_of(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return tuple(m for arg in typing.get_args(annotation) for m in _models_of(arg))
    return (annotation,)


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return origin in (list, tuple, set)


def problems_of(error: ValidationError, where: str) -> list[dict[str, Any]]:
    """pydantic's errors as `{"field", "message"}`, never echoing the (maybe huge) input."""
    out = []
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in item["loc"]) or where
        out.append({"field": location if where == "body" else f"{where}.{location}", "message": item["msg"]})
    return out[:20]


def _refusal(error: ValidationError, where: str, status: int = 400, code: str = "bad_request") -> ApiError:
    problems = problems_of(error, where)
    first = problems[0] if problems else {"field": where, "message": "invalid"}
    return ApiError(status, code, f"{first['field']}: {first['message']}", problems=problems)


class Contract:
    """The registry of API operations on one blueprint, and the document generated from it."""

    def __init__(self, blueprint: Blueprint, *, title: str, version: str, description: str):
        self.blueprint = blueprint
        self.title = title
        self.version = version
        self.description = description
        self.operations: dict[str, Operation] = {}

    def route(
        self,
        rule: str,
        method: str = "GET",
        *,
        summary: str,
        responses: dict[int, Any],
        description: str = "",
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | None = None,
        path: type[BaseModel] | None = None,
        errors: Iterable[int] = (),
        public: bool = False,
        tags: Iterable[str] = (),
        invalid_body: tuple[int, str] = (400, "bad_request"),
        invalid_path: tuple[int, str] = (400, "bad_request"),
    ) -> Callable:
        """Declare and register an API route. The view receives the path arguments (validated by
        `path` when given) and `query=`/`body=` model instances, and returns a response model
        instance, or `(instance, status)` for a status other than the first in `responses`.

        Refusals: a query value out of its schema is 400 `bad_request`, a path value
        `invalid_path` (status, code); a body that is not JSON or not an object is 400 `bad_request`; a JSON
        object whose fields break the schema is `invalid_body` (status, code), with `problems`."""

        def decorator(view: Callable) -> Callable:
            endpoint = f"{self.blueprint.name}.{view.__name__}"
            # Any request can be malformed (the input layer answers 400) or rate limited, and any
            # that reads the database can find it unreachable (503 `database_unavailable`).
            all_errors = set(errors) | {400, 429} | ({401, 503} if not public else set())
            if query is not None or path is not None or body is not None:
                all_errors.add(400)
            if body is not None:
                all_errors |= set(BODY_ERRORS) | {invalid_body[0]}
            if path is not None:
                all_errors.add(invalid_path[0])
            operation = Operation(
                endpoint=endpoint,
                rule=rule,
                method=method.upper(),
                operation_id=_camel(view.__name__),
                summary=summary,
                description=description or (view.__doc__ or "").strip(),
                responses=dict(responses),
                errors=tuple(sorted(all_errors)),
                query=query,
                body=body,
                path=path,
                public=public,
                tags=tuple(tags),
            )
            operation.adapters = {status: TypeAdapter(kind) for status, kind in responses.items()}
            default_status = next(iter(responses))

            @wraps(view)
            def wrapped(**path_args: Any) -> Response:
                kwargs: dict[str, Any] = dict(path_args)
                if path is not None:
                    try:
                        kwargs = path.model_validate(path_args).model_dump()
                    except ValidationError as error:
                        raise _refusal(error, "path", *invalid_path) from None
                if query is not None:
                    kwargs["query"] = parse_query(query, request.args)
                if body is not None:
                    kwargs["body"] = parse_body(body, invalid_body)
                result = view(**kwargs)
                status = default_status
                if isinstance(result, tuple):
                    result, status = result
                if status not in operation.responses:
                    raise TypeError(f"{endpoint} answered {status}, which its contract does not declare")
                if not isinstance(result, operation.allowed_models(status)):
                    raise TypeError(f"{endpoint} answered {type(result).__name__}, not its declared response model")
                response = jsonify(operation.adapters[status].dump_python(result, mode="json"))
                response.status_code = status
                return response

            self.operations[endpoint] = operation
            self.blueprint.add_url_rule(rule, view_func=wrapped, methods=[operation.method])
            return wrapped

        return decorator

    # --- the document ------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        generator = GenerateJsonSchema(ref_template=REF_TEMPLATE)
        inputs: list[tuple[Any, Any, Any]] = [(("error", None), "serialization", TypeAdapter(Error).core_schema)]
        for operation in self.operations.values():
            for status, adapter in operation.adapters.items():
                inputs.append(((operation.endpoint, status), "serialization", adapter.core_schema))
            for kind in ("query", "path", "body"):
                model = getattr(operation, kind)
                if model is not None:
                    inputs.append(((operation.endpoint, kind), "validation", model.__pydantic_core_schema__))
        mapping, definitions = generator.generate_definitions(inputs)
        paths: dict[str, dict[str, Any]] = {}
        for operation in sorted(self.operations.values(), key=lambda o: (o.openapi_path, o.method)):
            paths.setdefault(operation.openapi_path, {})[operation.method.lower()] = self._operation_document(
                operation, mapping, definitions
            )
        error_ref = mapping[(("error", None), "serialization")]
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "servers": [{"url": self.blueprint.url_prefix or "/"}],
            "security": [{"bearer": []}, {"session": []}],
            "paths": paths,
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "Token from `kb token create`."},
                    "session": {"type": "apiKey", "in": "cookie", "name": "kb_session"},
                },
                "responses": {
                    "Error": {"description": "An error", "content": {"application/json": {"schema": error_ref}}}
                },
                "schemas": definitions,
            },
        }

    def _operation_document(self, operation: Operation, mapping: dict, definitions: dict) -> dict[str, Any]:
        out: dict[str, Any] = {"operationId": operation.operation_id, "summary": operation.summary}
        if operation.description:
            out["description"] = operation.description
        if operation.tags:
            out["tags"] = list(operation.tags)
        if operation.public:
            out["security"] = []
        parameters = []
        path_schema = (
            _resolve(mapping[((operation.endpoint, "path"), "validation")], definitions) if operation.path else None
        )
        for match in _CONVERTER.finditer(operation.rule):
            name = match.group("name")
            schema = (path_schema or {}).get("properties", {}).get(name)
            if schema is None:
                schema = {"type": "integer"} if match.group("converter") == "int" else {"type": "string"}
            parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        if operation.query is not None:
            schema = _resolve(mapping[((operation.endpoint, "query"), "validation")], definitions)
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                prop = dict(prop)
                parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
                if "description" in prop:
                    parameter["description"] = prop.pop("description")
                prop.pop("title", None)
                parameter["schema"] = _without_null(prop)
                if _is_list(operation.query.model_fields[name].annotation):
                    parameter.update(style="form", explode=True)
                parameters.append(parameter)
        if parameters:
            out["parameters"] = parameters
        if operation.body is not None:
            out["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": mapping[((operation.endpoint, "body"), "validation")]}},
            }
        responses: dict[str, Any] = {}
        for status in operation.responses:
            schema = mapping[((operation.endpoint, status), "serialization")]
            responses[str(status)] = {
                "description": _response_description(operation.responses[status]),
                "content": {"application/json": {"schema": schema}},
            }
        for status in operation.errors:
            responses.setdefault(
                str(status),
                {
                    "description": ERROR_DESCRIPTIONS.get(status, "An error"),
                    "content": {"application/json": {"schema": mapping[(("error", None), "serialization")]}},
                },
            )
        out["responses"] = dict(sorted(responses.items()))
        return out

    def operation_for(self, endpoint: str | None) -> Operation | None:
        return self.operations.get(endpoint or "")


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: `null` is not a value it can take."""
    branches = schema.get("anyOf")
    if branches:
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) != len(branches):
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            if rest.get("default", ...) is None:
                rest.pop("default")
            schema = {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}
    return schema


def _resolve(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        return definitions[ref.rsplit("/", 1)[-1]]
    return schema


def _response_description(kind: Any) -> str:
    models = _models_of(kind)
    docs = [(m.__doc__ or "").strip().splitlines()[0] for m in models if isinstance(m, type) and m.__doc__]
    return " or ".join(d for d in docs if d) or "OK"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# --- request parsing ---------------------------------------------------------------------------


def parse_query(model: type[BaseModel], args: MultiDict) -> Any:
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in args:
            continue
        data[name] = args.getlist(key) if _is_list(info.annotation) else args.get(key)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _refusal(error, "query") from None


def parse_body(model: type[BaseModel], invalid: tuple[int, str] = (400, "bad_request")) -> Any:
    """The JSON body as `model`. pydantic's parser bounds nesting depth and refuses lone
    surrogates, so neither reaches the view (nor the database)."""
    if not request.mimetype or request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json).")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, "bad_request", "The request body is empty; send a JSON object.")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise ApiError(
                400, "bad_request", "The request body is not valid JSON (or nests too deep, or holds a lone surrogate)."
            ) from None
        if any(not item["loc"] for item in error.errors()):  # the body is not an object at all
            raise ApiError(400, "bad_request", f"Send a JSON object ({model.__name__}).") from None
        raise _refusal(error, "body", *invalid) from None


def query_args(query: BaseModel) -> MultiDict:
    """A validated query model as query-string arguments again, for helpers shared with pages."""
    out: MultiDict = MultiDict()
    for name, value in query.model_dump(exclude_none=True).items():
        for item in value if isinstance(value, list) else [value]:
            out.add(name, str(item).lower() if isinstance(item, bool) else str(item))
    return out

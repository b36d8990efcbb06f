"""The OpenAPI document lists every response a route can give: the RFC 7807 problems and the event
stream of streamed answers.

The problems are derived from each route (who it asks for, its parameters and body, whether it
uses the service), so a new route is documented without anyone remembering to. A route may also
declare a status with only a description (``responses={503: {"description": …}}``); it is filled
in as a problem too.
"""

from __future__ import annotations

from collections.abc import Iterator
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from assistant.surfaces.deps import admin_user, current_user, get_service
from assistant.surfaces.problems import OPENAI_PREFIX, PROBLEM_MEDIA_TYPE

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
OPENAI_ERROR_REF = {"$ref": "#/components/schemas/OpenAIError"}
STREAM_MEDIA_TYPE = "text/event-stream"

WHY = {
    401: "缺少 API 密钥，或密钥无效",
    403: "需要管理员权限",
    404: "不存在，或调用者无权查看",
    413: "请求内容超过上限（LINKAGE_MAX_REQUEST_BYTES）",
    422: "请求参数不合法",
    500: "服务器内部错误（详情只写入服务器日志）",
    502: "配置的大模型服务出错（超时、拒绝密钥等）",
    503: "知识库尚未建立索引或暂不可用",
}


class Problem(BaseModel):
    """RFC 7807 problem details, with a Chinese ``detail`` written for the user."""

    type: str = "about:blank"
    title: str = Field(description="错误类别，如「未找到」")
    status: int = Field(description="HTTP 状态码")
    detail: str = Field(description="面向用户的中文说明")
    instance: str | None = Field(None, description="出错的请求路径")
    errors: list[dict] | None = Field(None, description="422 时逐项列出不合法的参数（loc、msg）")


class OpenAIErrorDetail(BaseModel):
    message: str = Field(description="面向用户的中文说明")
    type: str = Field(description="invalid_request_error、authentication_error、permission_error 或 server_error")
    param: str | None = Field(None, description="出错的参数")
    code: str | None = Field(None, description="如 invalid_api_key、not_found、invalid_request")


class OpenAIError(BaseModel):
    """OpenAI's error object: what the `/v1` routes answer, so OpenAI clients show the message."""

    error: OpenAIErrorDetail


def _calls(dependant) -> set:
    found = set()
    for dependency in dependant.dependencies:
        found.add(dependency.call)
        found |= _calls(dependency)
    return found


def problem_statuses(route: APIRoute) -> set[int]:
    """The error statuses a route can answer with, from what it depends on and what it accepts."""
    calls, dependant = _calls(route.dependant), route.dependant
    statuses = {status for status, response in route.responses.items() if isinstance(status, int) and status >= 400}
    if current_user in calls:
        statuses.add(401)
    if admin_user in calls:
        statuses.add(403)
    if dependant.path_params:
        statuses.add(404)
    if route.body_field is not None:
        statuses.add(413)
    if dependant.path_params or dependant.query_params or route.body_field is not None:
        statuses.add(422)
    if get_service in calls:
        statuses |= {500, 503}
    if _streams(route):  # an answer may need the configured LLM
        statuses.add(502)
    return statuses


def _streams(route: APIRoute) -> bool:
    """A route whose request body has a ``stream`` switch answers with server-sent events."""
    model = route.body_field.field_info.annotation if route.body_field is not None else None
    return isinstance(model, type) and issubclass(model, BaseModel) and "stream" in model.model_fields


def _api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """(documented path, route) of every documented API route, also where FastAPI (≥ 0.16x)
    resolves included routers lazily instead of copying their routes into ``app.routes``."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        found = ((route.path_format, route) for route in app.routes if isinstance(route, APIRoute))
    else:
        found = ((context.path_format, context.original_route) for context in iter_route_contexts(app.routes))
    for path, route in found:
        if isinstance(route, APIRoute) and route.include_in_schema:
            yield path, route


def document_responses(app: FastAPI) -> None:
    """Make ``app.openapi()`` add the problem responses and event streams to FastAPI's document."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema()
        openai_schema = OpenAIError.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(openai_schema.pop("$defs", {}))
        schemas["OpenAIError"] = openai_schema
        for path, route in _api_routes(app):
            for method in route.methods:
                responses = schema["paths"][path][method.lower()]["responses"]
                content = ({"application/json": {"schema": OPENAI_ERROR_REF}} if path.startswith(OPENAI_PREFIX)
                           else {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}})
                for status in sorted(problem_statuses(route)):
                    responses[str(status)] = {
                        "description": route.responses.get(status, {}).get("description") or WHY.get(status, ""),
                        "content": content,
                    }
                if _streams(route) and "200" in responses:
                    responses["200"].setdefault("content", {})[STREAM_MEDIA_TYPE] = {
                        "schema": {"type": "string"},
                        "description": "请求中 stream 为 true 时：server-sent events",
                    }
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        return schema

    app.openapi = openapi

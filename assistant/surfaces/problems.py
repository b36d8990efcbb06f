"""Error responses: RFC 7807 problem details everywhere, OpenAI's error object under ``/v1``.

OpenAI clients (the `openai` package, chat UIs) read ``{"error": {"message", "type", "code"}}``
and show its message; handed a problem document they show only "Error code: 422". Either way
the message is the Chinese one written for the user.

Domain errors carry messages written for users (see ``assistant.errors``); anything else is logged
with its traceback and answered with a generic 500, so internals never leak to a client.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.errors import (
    IndexNotReadyError,
    InvalidQuestionError,
    LinkageError,
    LLMError,
    ModelServiceError,
    StorageError,
    UnknownClauseError,
    UnknownConversationError,
    UnknownProjectError,
    UnknownStageError,
)
from assistant.tools.drafting import UnknownDraftKindError

log = logging.getLogger("assistant.http")

PROBLEM_MEDIA_TYPE = "application/problem+json"

_TITLES = {
    400: "请求无法处理",
    401: "未通过身份验证",
    403: "没有权限",
    404: "未找到",
    405: "不支持的请求方法",
    413: "请求内容过大",
    422: "请求参数不合法",
    500: "服务器内部错误",
    502: "大模型服务出错",
    503: "服务暂不可用",
}


def problem(status: int, detail: str, instance: str = "", headers: dict | None = None, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "请求失败"), "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


OPENAI_PREFIX = "/v1/"
_OPENAI_KINDS = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", "invalid_request"),
    500: ("server_error", "internal_error"),
    502: ("server_error", "upstream_error"),
    503: ("server_error", "service_unavailable"),
}


def openai_error_body(status: int, message: str, param: str | None = None) -> dict:
    """OpenAI's error object (also sent in-band when a streamed completion fails)."""
    kind, code = _OPENAI_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", str(status)))
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(path: str, status: int, detail: str, headers: dict | None = None, errors: list | None = None) -> JSONResponse:
    """The error in the shape the caller of ``path`` reads: OpenAI's under /v1, a problem elsewhere."""
    if path.startswith(OPENAI_PREFIX):
        param = ".".join(str(part) for part in errors[0]["loc"][1:]) if errors and errors[0]["loc"][1:] else None
        return JSONResponse(openai_error_body(status, detail, param), status_code=status, headers=headers)
    extra = {"errors": errors} if errors is not None else {}
    return problem(status, detail, path, headers=headers, **extra)


def status_for(exc: BaseException) -> int:
    """The HTTP status a domain error stands for; 500 for anything unexpected."""
    if isinstance(exc, (UnknownProjectError, UnknownClauseError, UnknownConversationError)):
        return 404
    if isinstance(exc, (InvalidQuestionError, UnknownStageError, UnknownDraftKindError)):
        return 422
    if isinstance(exc, (IndexNotReadyError, StorageError, ModelServiceError)):
        return 503
    if isinstance(exc, PermissionError):
        return 403
    if isinstance(exc, LLMError):  # the configured model failed, not the request
        return 502
    if isinstance(exc, LinkageError):
        return 400
    return 500


def public_message(exc: BaseException) -> str:
    """What a user may read about an error: the domain message, or a generic line."""
    if status_for(exc) == 500:
        return "服务器内部错误，请稍后重试；若问题持续，请联系管理员。"
    return str(exc)


def install_problem_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        english = HTTPStatus(exc.status_code).phrase  # Starlette's own detail ("Not Found") is never shown
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != english else _TITLES.get(exc.status_code, "请求失败")
        return error_response(request.url.path, exc.status_code, detail, headers=getattr(exc, "headers", None))

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        named = ".".join(str(part) for part in errors[0]["loc"][1:]) if errors and errors[0]["loc"][1:] else ""
        detail = f"请求参数不合法（{named}），请检查后重试。" if named else "请求参数不合法，请检查后重试。"
        return error_response(request.url.path, 422, detail, errors=errors)

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        if status == 500:
            log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(request.url.path, status, public_message(exc))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(LinkageError, domain_error)
    app.add_exception_handler(PermissionError, domain_error)
    app.add_exception_handler(Exception, domain_error)

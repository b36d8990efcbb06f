"""RFC 7807 problem details: the one error shape every HTTP client of the service sees.

Domain errors carry messages written for users (see ``assistant.errors``); anything else is logged
with its traceback and answered with a generic 500, so internals never leak to a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.errors import (
    IndexNotReadyError,
    InvalidQuestionError,
    LinkageError,
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
    503: "服务暂不可用",
}


def problem(status: int, detail: str, instance: str = "", headers: dict | None = None, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "请求失败"), "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def status_for(exc: BaseException) -> int:
    """The HTTP status a domain error stands for; 500 for anything unexpected."""
    if isinstance(exc, (UnknownProjectError, UnknownClauseError, UnknownConversationError)):
        return 404
    if isinstance(exc, (InvalidQuestionError, UnknownStageError, UnknownDraftKindError)):
        return 422
    if isinstance(exc, (IndexNotReadyError, StorageError)):
        return 503
    if isinstance(exc, PermissionError):
        return 403
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
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "请求失败")
        return problem(exc.status_code, detail, request.url.path, headers=getattr(exc, "headers", None))

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return problem(422, "请求参数不合法，请检查后重试。", request.url.path, errors=errors)

    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        status = status_for(exc)
        if status == 500:
            log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(status, public_message(exc), request.url.path)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(LinkageError, domain_error)
    app.add_exception_handler(PermissionError, domain_error)
    app.add_exception_handler(Exception, domain_error)

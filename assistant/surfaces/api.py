"""The HTTP service: JSON API, server-sent events, the web chat page and the bot webhooks.

Routes stay thin: they parse, call `AssistantService` and shape the response. Route functions
that do blocking work are plain ``def``, so FastAPI runs them in its threadpool and the event loop
stays free; answers (which may wait seconds on an LLM) run on threads of their own
(`assistant.surfaces.threads`), streamed ones step by step.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse
from threadpoolctl import threadpool_limits

from assistant.agent.models import AgentEvent, Answer, Citation
from assistant.agent.service import AssistantService
from assistant.errors import ConfigurationError, IndexNotReadyError, StorageError
from assistant.index import report_dict
from assistant.settings import Settings, get_settings, require_complete_llm
from assistant.surfaces.deps import AdminUser, AnswerThreadsDep, CurrentUser, ServiceDep, acts_as_local_admin
from assistant.surfaces.limits import BodySizeLimit
from assistant.surfaces.openapi_docs import document_responses
from assistant.surfaces.problems import install_problem_handlers, problem, public_message, status_for
from assistant.surfaces.threads import AnswerThreads
from assistant.tools.drafting import DEFAULT_KIND, FORMATS
from assistant.tools.search import SOURCES

log = logging.getLogger("assistant.http")

WEB_DIR = Path(__file__).parent / "web"
ConversationId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w.:@-]+$")]


class ChatRequest(BaseModel):
    question: str = Field(min_length=1, description="问题（中文或英文）")
    conversation_id: ConversationId | None = Field(None, description="延续已有对话时传入上次返回的 conversation_id")
    project_id: str | None = Field(None, max_length=100, description="把问题限定在某个项目上，如 P-2025-001")
    stream: bool = Field(False, description="为 true 时以 server-sent events 流式返回")


class FeedbackRequest(BaseModel):
    rating: Literal["up", "down"]
    conversation_id: ConversationId | None = None
    comment: str = Field("", max_length=2000)
    question: str = Field("", max_length=4000)
    answer: str = Field("", max_length=20000)
    citations: list[Citation] = Field(default_factory=list)


class IndexRequest(BaseModel):
    paths: list[str] = Field(default_factory=list, description="服务器上要加入索引的文件或文件夹")
    rebuild: bool = False
    repair: bool = Field(False, description="全面检查并修复索引（同 `linkage index --repair`）")


class ProposalRequest(BaseModel):
    kind: str = Field(DEFAULT_KIND, max_length=100, description="文稿类型（corpus/proposal_templates.yaml 中的模板名）")
    format: Literal["docx", "pdf", "md"] = Field("docx", description="docx | pdf（服务器需安装 LibreOffice）| md")


def sse_events(events: Iterator[AgentEvent]) -> Iterator[dict[str, str]]:
    """Agent events as SSE messages (step, token, final, error); a failure becomes an error event."""
    try:
        for event in events:
            if event.type == "step":
                data: dict[str, Any] = {"tool": event.tool, "args": event.args or {}}
            elif event.type == "token":
                data = {"text": event.text or ""}
            elif event.type == "final":
                data = event.answer.model_dump() if event.answer else {}
            else:
                data = {"status": 500, "detail": event.text or "回答失败，请稍后重试。"}
            yield {"event": event.type, "data": json.dumps(data, ensure_ascii=False)}
    except Exception as exc:  # a stream has already sent 200: report the error in-band
        status = status_for(exc)
        if status == 500:
            log.exception("streamed answer failed", exc_info=exc)
        yield {"event": "error", "data": json.dumps({"status": status, "detail": public_message(exc)}, ensure_ascii=False)}


def _download(filename: str, content: bytes, media_type: str, missing: list[str]) -> Response:
    headers = {
        "Content-Disposition": f"attachment; filename=\"draft.{filename.rsplit('.', 1)[-1]}\"; filename*=UTF-8''{quote(filename)}",
        "X-Linkage-Missing": quote(json.dumps(missing, ensure_ascii=False)),
    }
    return Response(content, media_type=media_type, headers=headers)


api = APIRouter(prefix="/api", tags=["api"])


@api.post("/chat", response_model=Answer, summary="提问（可流式返回）")
async def chat(request: ChatRequest, user: CurrentUser, service: ServiceDep, threads: AnswerThreadsDep):
    """Answer a question with clause-level citations; ``stream: true`` sends step/token/final events."""
    if request.stream:
        events = service.ask_stream(request.question, user, request.conversation_id, request.project_id)
        return EventSourceResponse(threads.iterate(sse_events(events)))
    return await threads.run(service.ask, request.question, user, request.conversation_id, request.project_id)


@api.get("/me", summary="当前身份：用户、用户组，以及是否是本机管理员")
def me(request: Request, user: CurrentUser) -> dict:
    # what the web page tells its user about their access (and so why they see the projects they see)
    keyless = "authorization" not in request.headers
    return {
        "user": user.name,
        "admin": user.admin,
        "groups": user.groups,
        "local_admin": keyless and acts_as_local_admin(request),
        "anonymous": keyless and not acts_as_local_admin(request),
    }


@api.get("/search", summary="检索知识库")
def search(
    user: CurrentUser,
    service: ServiceDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="问题或关键词")],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
    source: Annotated[Literal[SOURCES] | None, Query(description="只检索某类来源")] = None,  # type: ignore[valid-type]
) -> dict:
    hits = service.search(user, q, k, source)
    return {"hits": [h.to_json() for h in hits]}


@api.get("/clauses/{chunk_id}", summary="被引用条款的全文")
def clause(chunk_id: str, user: CurrentUser, service: ServiceDep) -> dict:
    hit = service.clause(user, chunk_id)
    return {"chunk_id": hit.id, **hit.to_json()}


@api.get("/projects", summary="可见的项目列表")
def projects(user: CurrentUser, service: ServiceDep, stage: str | None = None) -> list[dict]:
    return [p.model_dump() for p in service.list_projects(user, stage)]


@api.get("/projects/{project_id}", summary="项目记录")
def project(project_id: str, user: CurrentUser, service: ServiceDep) -> dict:
    return service.get_project(user, project_id).model_dump()


@api.get("/projects/{project_id}/readiness", summary="阶段就绪检查")
def readiness(project_id: str, user: CurrentUser, service: ServiceDep, target: str | None = None) -> dict:
    return service.check_readiness(user, project_id, target).model_dump()


@api.post("/projects/{project_id}/proposal", summary="生成立项材料草稿（.docx / .pdf / .md）",
          response_class=Response, responses={200: {"content": {media: {} for media in FORMATS.values()}}})
def proposal(project_id: str, user: CurrentUser, service: ServiceDep,
             request: Annotated[ProposalRequest | None, Body()] = None) -> Response:
    request = request or ProposalRequest()
    draft = service.draft_proposal(user, project_id, request.kind, request.format)
    return _download(draft.filename, draft.content, draft.media_type, list(draft.missing))


@api.post("/feedback", status_code=201, summary="👍/👎 反馈")
def feedback(request: FeedbackRequest, user: CurrentUser, service: ServiceDep) -> dict:
    service.record_feedback(
        user, request.conversation_id, request.rating, request.comment,
        request.question, request.answer, request.citations,
    )
    return {"status": "recorded"}


@api.post("/index", summary="更新索引（仅管理员）")
def update_index(request: IndexRequest, user: AdminUser, service: ServiceDep) -> dict:
    return report_dict(service.update_index(user, [Path(p) for p in request.paths], request.rebuild, repair=request.repair))


def create_app(settings: Settings | None = None, service: AssistantService | None = None, local_admin: bool = False,
               warm_up: bool = False) -> FastAPI:
    """The whole HTTP surface for one settings object; tests pass their own settings and service.

    ``warm_up`` (`linkage serve`): the server accepts connections only once the service has loaded its
    models and dictionaries, so no first request, and no load balancer's probe, meets a cold replica.

    ``local_admin``: the server listens on a loopback address only (`linkage serve` decides). Then,
    unless an API key is configured or anonymous access is off, a request without a key acts as the
    local administrator, as the CLI does on the same machine; a proxied request never does.
    """
    from fastapi_offline import FastAPIOffline

    from assistant.surfaces.openai_compat import router as openai_router

    settings = settings or get_settings()
    # Requests already run side by side on every core; OpenBLAS's own threads for one request's
    # matrix product (word and sentence similarities) only spun beside them: a search of a cached
    # question cost 16–34 ms of server CPU instead of 5 (`python -m evals.load --repeat`).
    # Only BLAS: the e5-small engine's OpenMP threads are LINKAGE_EMBEDDING_THREADS.
    threadpool_limits(1, user_api="blas")
    service = service or AssistantService(settings)
    try:
        service.store  # noqa: B018 - migrate the conversation database at start-up, not on the first question
    except StorageError as exc:  # the service still starts (search works); chat answers 503 until it is fixed
        log.error("%s", exc)
    app = FastAPIOffline(  # FastAPI whose /docs and /redoc use Swagger UI and ReDoc files shipped in the package
        title="联动助手 API",
        description="技术、专利和标准联动工作的检索增强助手：带条款引用的问答、项目就绪检查和立项材料草稿。",
        version="0.1.0",
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI would otherwise ask an outside validator
        lifespan=_warming(service) if warm_up else None,
    )
    app.state.settings = settings
    app.state.service = service
    app.state.answer_threads = AnswerThreads(settings.answer_threads)
    app.state.local_admin = local_admin and settings.allow_anonymous and not settings.api_keys
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(DocsStayLocal)
    app.include_router(api)
    app.include_router(openai_router)

    @app.get("/healthz", tags=["ops"], summary="进程存活")
    async def healthz() -> dict:  # async: answers even when every worker thread is busy
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="索引已就绪", responses={503: {"description": "知识库尚未建立索引，或索引损坏、向量库不可用"}})
    def readyz() -> Response:
        try:
            ready = service.index_ready()
        except IndexNotReadyError as exc:  # a damaged data file or an unreachable Chroma server, named
            return problem(503, str(exc), "/readyz")
        if not ready:
            return problem(503, "知识库尚未建立索引：请先运行 `linkage index`。", "/readyz")
        return JSONResponse({"status": "ready"})

    if settings.slack_bot_token.get_secret_value() and settings.slack_signing_secret.get_secret_value():
        from assistant.surfaces.slack import mount_slack

        mount_slack(app, settings, service)
    if settings.dingtalk_robot_secret.get_secret_value():
        from assistant.surfaces.dingtalk import mount_dingtalk

        mount_dingtalk(app, settings, service)

    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    document_responses(app)
    return app


DOCS_PAGES = ("/docs", "/redoc")
# Swagger UI and ReDoc may use only what this server sends: ReDoc's footer logo from its CDN is
# then never requested (ReDoc drops the image when it fails to load).
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'")


class DocsStayLocal:
    """Send a Content-Security-Policy with the API documentation pages, so they load nothing from outside."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") not in DOCS_PAGES:
            return await self.app(scope, receive, send)

        async def with_policy(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"content-security-policy", DOCS_POLICY.encode())]
            await send(message)

        await self.app(scope, receive, with_policy)


def create_local_app() -> FastAPI:
    """The app for a server bound to a loopback address (see ``create_app``'s ``local_admin``)."""
    return create_app(local_admin=True, warm_up=True)


def create_served_app() -> FastAPI:
    """The app `linkage serve` runs on any other address."""
    return create_app(warm_up=True)


def _warming(service: AssistantService):
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await anyio.to_thread.run_sync(service.warm_up)
        yield

    return lifespan


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def app_factory(host: str) -> str:
    """The uvicorn factory `linkage serve --host HOST` runs: local administrator rules only on loopback."""
    return "assistant.surfaces.api:create_local_app" if is_loopback(host) else "assistant.surfaces.api:create_served_app"


def check_serve_settings(settings: Settings) -> None:
    """Refuse to start a service nobody could use, a half-configured bot webhook or LLM."""
    require_complete_llm(settings)
    if not settings.allow_anonymous and not settings.api_keys:
        raise ConfigurationError(
            "已关闭匿名访问（LINKAGE_ALLOW_ANONYMOUS=false），但没有配置任何 API 密钥（LINKAGE_API_KEYS）"
        )
    if settings.slack_bot_token.get_secret_value() or settings.slack_signing_secret.get_secret_value():
        from assistant.surfaces.slack import require

        require(settings, "slack_bot_token", "slack_signing_secret")

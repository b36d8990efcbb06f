"""OpenAI-compatible `/v1/chat/completions` and `/v1/models`, so any OpenAI client or chat UI works.

Citations survive the translation: the answer text ends with a numbered 来源 block (what a plain
chat UI shows) and the response carries a structured ``citations`` field (what a program reads).
The conversation continues across turns: a client may send ``conversation_id``; otherwise the
id is derived from the caller and the chat's first user message, which every later turn of the
same chat repeats.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from assistant.agent.models import AgentEvent, Answer, Citation
from assistant.errors import InvalidQuestionError
from assistant.surfaces.deps import AnswerThreadsDep, CurrentUser, ServiceDep
from assistant.surfaces.problems import openai_error_body, public_message, status_for
from assistant.tools.context import User

MODEL_ID = "linkage-assistant"
log = logging.getLogger("assistant.http")
router = APIRouter(prefix="/v1", tags=["openai"])


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")
        return self.content or ""


class CompletionRequest(BaseModel):
    """The OpenAI request shape; sampling parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    conversation_id: str | None = Field(None, max_length=200, pattern=r"^[\w.:@-]+$")
    project_id: str | None = Field(None, max_length=100)


def sources_block(citations: list[Citation]) -> str:
    """The numbered sources appended to the answer text (empty when nothing was cited)."""
    if not citations:
        return ""
    lines = [f"[{c.n}] {c.label or c.title}" for c in citations]
    return "\n\n来源：\n" + "\n".join(lines)


def _conversation_id(request: CompletionRequest, user: User) -> str:
    if request.conversation_id:
        return request.conversation_id
    first = next((m.text for m in request.messages if m.role == "user"), "")
    return "openai-" + hashlib.sha256(f"{user.name}\n{first}".encode()).hexdigest()[:24]


def _question(request: CompletionRequest) -> str:
    last = request.messages[-1]
    if last.role != "user" or not last.text.strip():
        raise InvalidQuestionError("最后一条消息须是用户的问题。")
    return last.text


def _citations(answer: Answer) -> list[dict]:
    return [c.model_dump() for c in answer.citations]


def _completion(answer: Answer, model: str) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer.answer + sources_block(answer.citations)},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": _citations(answer),
        "conversation_id": answer.conversation_id,
    }


def _chunks(events: Iterator[AgentEvent], model: str) -> Iterator[dict[str, str]]:
    """Agent events as `chat.completion.chunk` messages: tokens, then the sources, then [DONE]."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def chunk(delta: dict, finish: str | None = None, **extra) -> dict[str, str]:
        body = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return {"data": json.dumps(body, ensure_ascii=False)}

    yield chunk({"role": "assistant", "content": ""})
    streamed = False
    try:
        for event in events:
            if event.type == "token" and event.text:
                streamed = True
                yield chunk({"content": event.text})
            elif event.type == "final" and event.answer:
                answer = event.answer
                tail = sources_block(answer.citations) if streamed else answer.answer + sources_block(answer.citations)
                yield chunk({"content": tail} if tail else {}, "stop",
                            citations=_citations(answer), conversation_id=answer.conversation_id)
            elif event.type == "error":
                yield {"data": json.dumps(openai_error_body(500, event.text or "回答失败，请稍后重试。"), ensure_ascii=False)}
    except Exception as exc:  # already streaming: the error goes in-band, as OpenAI does
        status = status_for(exc)
        if status == 500:
            log.exception("streamed completion failed", exc_info=exc)
        yield {"data": json.dumps(openai_error_body(status, public_message(exc)), ensure_ascii=False)}
    yield {"data": "[DONE]"}


@router.post("/chat/completions", summary="OpenAI 兼容的对话接口（保留引用）")
async def chat_completions(request: CompletionRequest, user: CurrentUser, service: ServiceDep, threads: AnswerThreadsDep):
    question = _question(request)
    conversation_id = _conversation_id(request, user)
    if request.stream:
        events = service.ask_stream(question, user, conversation_id, request.project_id)
        return EventSourceResponse(threads.iterate(_chunks(events, request.model)))
    answer = await threads.run(service.ask, question, user, conversation_id, request.project_id)
    return _completion(answer, request.model)


@router.get("/models", summary="可用模型（OpenAI 兼容）")
def models(user: CurrentUser) -> dict:
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "linkage"}]}

"""Test doubles for the agent: a scripted chat model and a local OpenAI-compatible HTTP server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    """Replies queued by the test (tool calls, then text); every prompt it receives is kept."""

    replies: list[AIMessage] = Field(default_factory=list)
    received: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[Any] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools, **kwargs):
        """langchain-core's fake models refuse tools; this one just remembers them."""
        self.bound_tools = list(tools)
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.received.append(list(messages))
        if not self.replies:
            raise AssertionError("the scripted model ran out of replies")
        return ChatResult(generations=[ChatGeneration(message=self.replies.pop(0))])


class BrokenStreamModel(ScriptedChatModel):
    """Streams the first half of its reply, then the connection drops (as a real server can)."""

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        import httpx
        import openai

        self.received.append(list(messages))
        text = self.replies.pop(0).text
        yield ChatGenerationChunk(message=AIMessageChunk(content=text[: len(text) // 2]))
        raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))


def tool_call(name: str, args: dict, call_id: str = "call_1") -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


# ----- a fake OpenAI-compatible server -----


def completion_with_tool_call(name: str, args: dict, call_id: str = "call_1") -> dict:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}],
    }
    return _completion(message, "tool_calls")


def completion_with_text(text: str) -> dict:
    return _completion({"role": "assistant", "content": text}, "stop")


def _completion(message: dict, finish: str) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "test-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _stream_chunks(body: dict) -> list[dict]:
    """The same reply as server-sent chunks: text in two pieces, tool calls in one."""
    message, finish = body["choices"][0]["message"], body["choices"][0]["finish_reason"]
    base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1700000000, "model": "test-model"}
    deltas: list[dict] = [{"role": "assistant", "content": ""}]
    if message.get("tool_calls"):
        deltas.append({"tool_calls": [dict(call, index=i) for i, call in enumerate(message["tool_calls"])]})
    else:
        text = message["content"]
        deltas += [{"content": text[: len(text) // 2]}, {"content": text[len(text) // 2 :]}]
    chunks = [dict(base, choices=[{"index": 0, "delta": d, "finish_reason": None}]) for d in deltas]
    chunks.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": finish}]))
    return chunks


class FakeOpenAI:
    """Serves /v1/chat/completions on 127.0.0.1 from a script: a dict reply, ``500``, ``("sleep", s)``
    or ``("hold", event)`` (answer once the test sets the event)."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                step = server.script.pop(0) if server.script else 500
                if isinstance(step, tuple) and step[0] == "sleep":
                    time.sleep(step[1])
                    step = completion_with_text("太晚了")
                elif isinstance(step, tuple) and step[0] == "hold":
                    step[1].wait(timeout=300)
                    step = completion_with_text("太晚了")
                if step == 500:
                    self._send(500, {"error": {"message": "upstream exploded", "type": "server_error"}})
                elif body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for chunk in _stream_chunks(step):
                        self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                else:
                    self._send(200, step)

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

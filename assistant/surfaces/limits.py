"""Request-size limits: the body as ASGI middleware, so an oversized body is refused before anything
parses it; the request head in the server's HTTP parser (`server_options`), before the app exists."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.settings import Settings
from assistant.surfaces.problems import error_response


def server_options(settings: Settings) -> dict:
    """uvicorn options for `linkage serve`: the h11 parser refuses (400) a request line plus headers
    longer than ``max_header_bytes``; httptools, uvicorn's default when installed, buffers any size."""
    return {"http": "h11", "h11_max_incomplete_event_size": settings.max_header_bytes}


class BodySizeLimit:
    """Answer 413 (problem+json) when a request body exceeds ``max_bytes``.

    A declared ``Content-Length`` is checked up front; a chunked body is buffered up to the limit
    (bodies here are small JSON documents) and replayed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b""):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(scope.get("path", ""), 413, f"请求内容超过上限（{self.max_bytes} 字节）。")
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that yields the buffered body once, then defers to the real one (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

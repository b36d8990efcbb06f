"""What the HTTP service refuses before the app runs, and what its OpenAPI document promises.

The header limit is a property of the server (uvicorn's parser), so it is tested over a real
uvicorn on 127.0.0.1 started with the options `linkage serve` uses.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from assistant.agent.service import AssistantService
from assistant.surfaces.api import create_app
from assistant.surfaces.limits import server_options
from http_servers import serve_app

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def service(shipped_settings, shipped_index) -> AssistantService:
    return AssistantService(shipped_settings, index=shipped_index)


@pytest.fixture(scope="module")
def served(shipped_settings, service):
    with serve_app(create_app(shipped_settings, service), **server_options(shipped_settings)) as url:
        yield url


def send_huge_header(url: str, header_bytes: int) -> tuple[int, bytes]:
    """Send a request whose head is ``header_bytes`` long; returns (bytes sent, the server's answer)."""
    host, port = url.removeprefix("http://").split(":")
    sent, answer = 0, b""
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
            block = b"a" * 65536
            while sent < header_bytes:
                sock.sendall(block)
                sent += len(block)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
        except (ConnectionResetError, TimeoutError):
            pass
    return sent, answer


def test_oversized_request_headers_are_refused_by_the_server(served, shipped_settings):
    sent, answer = send_huge_header(served, 16 * 1024 * 1024)
    assert sent < 16 * 1024 * 1024 or answer.startswith(b"HTTP/1.1 4"), answer[:200]
    assert not answer.startswith(b"HTTP/1.1 2")
    # ordinary requests still pass, and a head just under the limit is fine
    padding = "a" * (shipped_settings.max_header_bytes // 2)
    assert httpx.get(served + "/healthz", headers={"X-Padding": padding}).status_code == 200


def test_many_oversized_requests_leave_the_server_responsive(served):
    for _ in range(5):
        send_huge_header(served, 4 * 1024 * 1024)
    started = time.monotonic()
    assert httpx.get(served + "/healthz", timeout=10).status_code == 200
    assert time.monotonic() - started < 5


@pytest.fixture(scope="module")
def openapi(shipped_settings, service) -> dict:
    return TestClient(create_app(shipped_settings, service)).get("/openapi.json").json()


def operations(openapi: dict):
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def problem_schema(op: dict, status: int, path: str = "") -> dict:
    """The documented error schema: a problem, or OpenAI's error object under /v1."""
    response = op["responses"].get(str(status))
    assert response, f"{status} missing"
    media = "application/json" if path.startswith("/v1/") else PROBLEM
    assert list(response["content"]) == [media], response
    return response["content"][media]["schema"]


def test_openapi_lists_every_problem_response(openapi):
    problem = openapi["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["properties"])
    for path, method, op in operations(openapi):
        where = f"{method.upper()} {path}"
        has_input = bool(op.get("parameters") or op.get("requestBody"))
        expected = {401} if op.get("security") else set()
        expected |= {422} if has_input else set()
        expected |= {413} if op.get("requestBody") else set()
        expected |= {404} if "{" in path else set()
        if path.startswith("/api/") and path != "/api/me":  # /api/me only says who is asking
            expected |= {500, 503}
        schema = "OpenAIError" if path.startswith("/v1/") else "Problem"
        for status in expected:
            assert problem_schema(op, status, path) == {"$ref": f"#/components/schemas/{schema}"}, where
        documented = {int(s) for s in op["responses"] if s.startswith(("4", "5"))}
        assert expected <= documented, where
        assert all(problem_schema(op, s, path) for s in documented), where
    for path in ("/api/chat", "/v1/chat/completions"):
        problem_schema(openapi["paths"][path]["post"], 502, path)  # the configured LLM failed
    index = openapi["paths"]["/api/index"]["post"]
    problem_schema(index, 403)
    problem_schema(openapi["paths"]["/readyz"]["get"], 503)
    assert "HTTPValidationError" not in openapi["components"]["schemas"]  # 422s are problems, not FastAPI's shape


def test_openapi_lists_the_event_stream_of_streamed_answers(openapi):
    streamed = {path for path, _, op in operations(openapi) if "text/event-stream" in op["responses"].get("200", {}).get("content", {})}
    assert streamed == {"/api/chat", "/v1/chat/completions"}

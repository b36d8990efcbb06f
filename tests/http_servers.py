"""Real local HTTP servers for surface tests: the app under uvicorn, and recording stand-ins.

The stand-ins play the remote side we cannot reach from a test (Slack's Web API, a DingTalk
session webhook): they listen on 127.0.0.1, record every request and answer as the real API does.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import httpx
import uvicorn


@contextmanager
def serve_app(app, **options) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free port of 127.0.0.1; yields its base URL. ``options``: more uvicorn settings."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def params(self) -> dict:
        """The request's parameters, whether sent as JSON or as a form."""
        if not self.body:
            return {}
        if self.headers.get("content-type", "").startswith("application/json"):
            return json.loads(self.body)
        return dict(parse_qsl(self.body.decode()))


@dataclass
class Recorder:
    """A recording HTTP server; ``respond(call)`` returns (status, JSON-able body or bytes)."""

    respond: Callable[[Call], tuple[int, object]]
    calls: list[Call] = field(default_factory=list)
    url: str = ""

    def named(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 120) -> list[Call]:
        """Block until ``count`` requests to ``path`` arrived (lazy listeners answer in the background)."""
        deadline = time.monotonic() + timeout
        while len(self.named(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no call to {path} within {timeout}s; got {[c.path for c in self.calls]}")
            time.sleep(0.05)
        return self.named(path)


@contextmanager
def recording_server(respond: Callable[[Call], tuple[int, object]]) -> Iterator[Recorder]:
    recorder = Recorder(respond)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self._handle()

        def do_GET(self) -> None:  # noqa: N802
            self._handle()

        def do_PUT(self) -> None:  # noqa: N802
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            call = Call(self.command, self.path.split("?")[0], {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length))
            recorder.calls.append(call)
            status, body = recorder.respond(call)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream" if isinstance(body, bytes) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(process: subprocess.Popen, url: str, what: str, timeout: float = 120) -> None:
    """Poll ``url`` until it answers 200; fail with the process's stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited: {process.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come up within {timeout:g} s")
        time.sleep(0.3)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def server_process(command: list[str], port: int, health_path: str, what: str, env: dict[str, str]) -> Iterator[str]:
    """A server in its own process on 127.0.0.1:``port``; yields its base URL once ``health_path`` answers 200."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, url + health_path, what)
        yield url
    finally:
        stop(process)


@contextmanager
def chroma_server(path) -> Iterator[str]:
    """A real Chroma server (`chroma run`, shipped with the chromadb package) on 127.0.0.1; yields its URL."""
    port = free_port()
    chroma = os.path.join(os.path.dirname(sys.executable), "chroma")
    command = [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]
    with server_process(command, port, "/api/v2/heartbeat", "chroma run", os.environ | {"ANONYMIZED_TELEMETRY": "False"}) as url:
        yield url

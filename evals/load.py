"""Load test: bounded concurrent clients against `linkage serve` on loopback, per endpoint.

Run: ``python -m evals.load [--url http://127.0.0.1:8000] [--clients 20 50] [--duration 20]``.

Without ``--url`` it starts its own `linkage serve` on a free port of 127.0.0.1 (offline: the
``LINKAGE_LLM_*`` settings are dropped for it; ``--workers`` as for `linkage serve`), over the
data dir of the current settings, which must already be indexed (`linkage index`). Each client
sends its next request as soon as the previous one is answered (closed loop), for ``--duration``
seconds per endpoint and client count, after a short warm-up. Questions and queries come from
``evals/retrieval.yaml``, each with a unique tag so that no cache answers it (``--repeat``: as
they are, so caches warm up). The tag is text the model reads too: about 4 of the ~24 tokens
e5-small embeds per question, a sixth of a search's CPU. ``--untagged`` asks the questions as they
are of a server this script starts with its query-vector cache off (``LINKAGE_QUERY_CACHE_SIZE=0``):
every question is embedded, as a new one would be, and the model reads only the question.
Printed per row: completed requests per second and latency p50/p95/p99 of the successful ones;
failures (status ≥ 400 or a transport error) are counted apart; for a server it started itself (on
Linux), the server's CPU time per completed request, which other jobs on a shared machine disturb
far less than the rates (``--json`` adds the clients' own).

The clients run in this process: on a small machine they take CPU from the server, so compare
rows measured on the same machine more than absolute figures. Loopback only: the point is the
server's throughput, not a network's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

QUESTIONS = Path(__file__).with_name("retrieval.yaml")
console = Console(width=150)


def questions() -> list[str]:
    return [item["q"] for item in yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]]


def nonce(n: int) -> str:
    """A letters-only tag unique to request ``n``, so no cache answers a repeated question."""
    letters = ""
    while True:
        n, digit = divmod(n, 26)
        letters += "abcdefghijklmnopqrstuvwxyz"[digit]
        if not n:
            return "zq" + letters


def endpoints(texts: list[str], repeat: bool = False) -> dict[str, Callable[[int], dict]]:
    """Endpoint name → the n-th request (httpx.request keyword arguments). Unless ``repeat``, each
    question carries a unique tag: caches (query vectors, sentence vectors) then never hit, as for
    questions nobody asked before; with ``repeat`` the same questions come round again."""
    texts = texts if repeat else [f"{{}} {t}" for t in texts]  # a tag after the question would read as a second one
    pick = (lambda n: texts[n % len(texts)]) if repeat else (lambda n: texts[n % len(texts)].format(nonce(n)))
    return {
        "POST /api/chat": lambda n: {"method": "POST", "url": "/api/chat", "json": {"question": pick(n)}},
        "GET /api/search": lambda n: {"method": "GET", "url": "/api/search", "params": {"q": pick(n), "k": 5}},
        "POST /api/feedback": lambda n: {"method": "POST", "url": "/api/feedback", "json": {
            "rating": "up" if n % 2 else "down", "comment": f"负载测试 {n}", "question": pick(n),
            "answer": "（负载测试）"}},
    }


@dataclass
class Row:
    endpoint: str
    clients: int
    seconds: float
    ok: int = 0
    failed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list, repr=False)
    cpu_seconds: float | None = None  # the server's CPU time during the row (own server on Linux)
    client_cpu_seconds: float = 0.0  # this script's, whose clients share the machine

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")

    @property
    def cpu_ms_per_request(self) -> float | None:
        return self.cpu_seconds / self.ok * 1000 if self.cpu_seconds is not None and self.ok else None

    def summary(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "latencies"}
        data.update(req_per_s=round(self.rate, 1), **{f"p{q}_ms": round(self.percentile(q), 1) for q in (50, 95, 99)})
        cpu = self.cpu_ms_per_request
        data["server_cpu_ms_per_req"] = None if cpu is None else round(cpu, 1)
        data["client_cpu_ms_per_req"] = round(self.client_cpu_seconds / self.ok * 1000, 1) if self.ok else None
        return data


def cpu_seconds(pid: int | None) -> float | None:
    """CPU time (user + system) of process ``pid`` and its descendants, from /proc; None elsewhere."""
    if pid is None:
        return None
    try:
        stats = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    except OSError:
        return None
    if pid not in stats:
        return None
    tree, grew = {pid}, True
    while grew:
        children = {p for p, (parent, _) in stats.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return sum(stats[p][1] for p in tree) / os.sysconf("SC_CLK_TCK")


async def measure(url: str, name: str, make: Callable[[int], dict], clients: int, duration: float,
                  headers: dict[str, str], tick: Callable[[], None], server_pid: int | None = None,
                  first: int = 0) -> Row:
    """``clients`` closed-loop clients for ``duration`` seconds; only requests finished in time count.

    Requests are numbered from ``first``: each row starts at a new number, so that a question tagged
    in one row (a chat) is never asked again in the next (a search of the same cached vector).
    """
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as http:
        for n in range(min(clients, 4)):  # warm-up: first answers load the index and the models
            await http.request(**make(first + n))
        row = Row(name, clients, duration)
        cpu_before, client_before = cpu_seconds(server_pid), time.process_time()
        started = time.monotonic()
        stop = started + duration

        async def client(n: int) -> None:
            while time.monotonic() < stop:
                sent = time.perf_counter()
                try:
                    response = await http.request(**make(n))
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                took = time.perf_counter() - sent
                if time.monotonic() <= stop:
                    row.statuses[status] = row.statuses.get(status, 0) + 1
                    if status.startswith(("2", "3")):
                        row.ok += 1
                        row.latencies.append(took)
                    else:
                        row.failed += 1
                n += clients

        async def ticker() -> None:
            while time.monotonic() < stop:
                await asyncio.sleep(0.5)
                tick()

        await asyncio.gather(ticker(), *(client(first + 4 + i) for i in range(clients)))
        row.seconds = time.monotonic() - started
        cpu_after, row.client_cpu_seconds = cpu_seconds(server_pid), time.process_time() - client_before
        if cpu_before is not None and cpu_after is not None:
            row.cpu_seconds = cpu_after - cpu_before
    return row


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def own_server(workers: int, query_cache: bool = True) -> Iterator[tuple[str, int]]:
    """`linkage serve` on a free loopback port, offline, until the block ends: its URL and process id.
    ``query_cache=False``: the server embeds every question, even one it has seen."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_LLM_")}
    if not query_cache:
        env["LINKAGE_QUERY_CACHE_SIZE"] = "0"
    command = [sys.executable, "-c", "from assistant.surfaces.cli import app; app()",
               "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"linkage serve exited: {process.stderr.read().decode(errors='replace')[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("linkage serve did not start within 120 s")
            time.sleep(0.3)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def run(url: str, names: list[str], client_counts: list[int], duration: float, headers: dict[str, str],
        repeat: bool = False, server_pid: int | None = None) -> list[Row]:
    if httpx.get(url + "/readyz", timeout=10, headers=headers).status_code != 200:
        raise SystemExit("服务尚未就绪（/readyz 不是 200）：请先运行 `linkage index`。")
    plans = endpoints(questions(), repeat)
    first = secrets.randbelow(26**6)  # a new range per run too: a running server may have cached the last one's
    rows = []
    total = len(names) * len(client_counts) * duration
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), console=console,
                  disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("负载测试", total=total)
        for name in names:
            for clients in client_counts:
                bar.update(task, description=f"{name} × {clients}")
                row = asyncio.run(measure(url, name, plans[name], clients, duration, headers,
                                          lambda: bar.advance(task, 0.5), server_pid, first))
                rows.append(row)
                first += 1_000_000
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running `linkage serve`; default: start one on 127.0.0.1")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of the server this script starts")
    parser.add_argument("--clients", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per endpoint and client count")
    parser.add_argument("--endpoints", nargs="+", choices=["chat", "search", "feedback"], default=["chat", "search", "feedback"])
    parser.add_argument("--api-key", default=os.environ.get("LINKAGE_LOAD_API_KEY", ""), help="Bearer key (when anonymous access is off)")
    asked = parser.add_mutually_exclusive_group()
    asked.add_argument("--repeat", action="store_true", help="ask the same questions again (caches hit) instead of unique ones")
    asked.add_argument("--untagged", action="store_true",
                       help="ask the questions without a tag, of a server started with its query-vector cache off")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    if args.url and not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit("只对本机回环地址（127.0.0.1 / localhost）做负载测试。")
    if args.url and args.untagged:
        raise SystemExit("--untagged 需要由本脚本启动服务（它关闭该服务的查询向量缓存），不能与 --url 一起使用。")
    names = [name for name in endpoints(["x"]) if name.split("/")[-1] in args.endpoints]
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    server = contextlib.nullcontext((args.url, None)) if args.url else own_server(args.workers, query_cache=not args.untagged)
    with server as (url, pid):
        rows = run(url, names, args.clients, args.duration, headers, args.repeat or args.untagged, pid)
    if args.json:
        print(json.dumps([r.summary() for r in rows], ensure_ascii=False, indent=2))
        return
    asking = "原样重复（缓存命中）" if args.repeat else "原样、不缓存查询向量" if args.untagged else "每次带唯一标记"
    table = Table(title=f"负载测试 {url}（{'外部服务' if args.url else f'本脚本启动，workers={args.workers}'}；问题：{asking}）")
    for column in ("endpoint", "clients", "requests", "failed", "req/s", "p50 ms", "p95 ms", "p99 ms", "server CPU ms/req"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for r in rows:
        table.add_row(r.endpoint, str(r.clients), str(r.ok), str(r.failed), f"{r.rate:.1f}",
                      f"{r.percentile(50):.0f}", f"{r.percentile(95):.0f}", f"{r.percentile(99):.0f}",
                      "–" if r.cpu_ms_per_request is None else f"{r.cpu_ms_per_request:.1f}")
    console.print(table)


if __name__ == "__main__":
    main()

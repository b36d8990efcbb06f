"""Benchmark: concurrent conversation and feedback writes (the store behind every answer and 👍/👎).

Run: ``python -m evals.bench_writes [--writers 50] [--writes 40] [--database-url postgresql+psycopg://…]``.

Each writer thread starts its own conversation, then alternates a turn and a feedback entry; all
start together. Prints writes per second, the p50/p95/p99 latency of one write, and checks that
every row arrived (a lost or failed write exits with status 1). Without ``--database-url`` it
measures SQLite (WAL) in a temporary directory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from assistant.agent.conversations import ConversationStore
from assistant.agent.models import Answer
from assistant.storage.database import Database


def run(url: str, writers: int, writes: int) -> dict:
    store = ConversationStore(Database(url, pool_size=5))
    before = store.count()
    answer = Answer(answer="回答", mode="offline", citations=[], tool_calls=[], conversation_id="x", grounded=False)
    start = threading.Barrier(writers)
    latencies: list[float] = []
    failures: list[str] = []
    run_id = f"{time.time_ns():x}"

    def writer(n: int) -> None:
        conversation, user = f"bench-{run_id}-{n}", f"bench-user-{n}"
        start.wait()
        try:
            store.claim(conversation, user)
            for i in range(writes):
                t0 = time.perf_counter()
                if i % 2:
                    store.add_feedback(conversation, user, "up", "", "问题", "回答", [])
                else:
                    store.add_turn(conversation, user, "问题", answer, None, None)
                latencies.append(time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - reported as a failure
            failures.append(str(exc))

    began = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(writer, range(writers)))
    elapsed = time.perf_counter() - began
    after = store.count()
    store.database.dispose()
    expected = writers * writes
    arrived = (after["turns"] - before["turns"]) + (after["feedback"] - before["feedback"])
    ms = np.array(latencies) * 1000
    return {
        "writes/s": expected / elapsed,
        "p50 ms": float(np.percentile(ms, 50)) if len(ms) else 0.0,
        "p95 ms": float(np.percentile(ms, 95)) if len(ms) else 0.0,
        "p99 ms": float(np.percentile(ms, 99)) if len(ms) else 0.0,
        "lost": expected - arrived,
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--writes", type=int, default=40, help="writes per writer (turns and feedback alternating)")
    parser.add_argument("--database-url", default="", help="e.g. postgresql+psycopg://user:pw@127.0.0.1/linkage")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'conversations.sqlite3'}"
        result = run(url, args.writers, args.writes)
        name = "PostgreSQL" if args.database_url else "SQLite (WAL)"
    table = Table(title=f"{args.writers} writers × {args.writes} writes")
    for column in ("database", "writes/s", "p50 ms", "p95 ms", "p99 ms", "lost", "failed"):
        table.add_column(column, justify="right")
    table.add_row(name, f"{result['writes/s']:.0f}", f"{result['p50 ms']:.1f}", f"{result['p95 ms']:.1f}",
                  f"{result['p99 ms']:.1f}", str(result["lost"]), str(len(result["failures"])))
    console.print(table)
    for failure in result["failures"][:3]:
        console.print(f"[red]失败：[/red]{failure}")
    if result["lost"] or result["failures"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Benchmark: indexing throughput, search latency (bm25 / dense / hybrid) at 1k, 10k and 100k chunks, peak memory.

BM25 is timed twice: for the administrator (bm25s's precomputed scores) and for a user who may not
see every record (scored with the statistics of the chunks that user may see).

Run: ``python -m evals.bench [--sizes 1000 10000 100000] [--queries 50]``.

Indexing throughput is measured on the shipped corpus with the real default embedder. For the
larger sizes, synthetic Chinese chunks are made from the shipped ones (sentences recombined), and
their vectors are mixtures of the real chunk vectors plus noise — generated once and cached in
``evals/.cache`` — because embedding 100k chunks at a few chunks per second would take hours and
latency does not depend on what the vectors mean.
"""

from __future__ import annotations

import argparse
import re
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from assistant.index import KnowledgeIndex
from assistant.index.embeddings import E5SmallEmbedder
from assistant.ingest.models import Chunk
from assistant.settings import Settings
from evals.retrieval import load_questions

CACHE = Path(__file__).with_name(".cache")
USER_GROUP = "标准化部"  # sees some of the shipped records' chunks, not all
console = Console(width=150)


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def shipped_chunks(index: KnowledgeIndex) -> tuple[list[Chunk], np.ndarray]:
    data = index.store.get(index.head.collection, embeddings=True)
    chunks = [
        Chunk(
            doc_id=m["doc_id"], title=m["title"], source=m["source"], standard=m["standard"], year=m["year"] or None,
            kind=m["kind"], cite_as=m["cite_as"], access=[a for a in m["access"].split("|") if a], clause=m["clause"],
            clause_title=m["clause_title"], clause_path=m["clause_path"], page=m["page"] or None,
            source_file=m["source_file"], seq=m["seq"], text=d,
        )
        for d, m in zip(data["documents"], data["metadatas"])
    ]
    return chunks, np.asarray(data["embeddings"], dtype=np.float32)


def synthetic(base: list[Chunk], vectors: np.ndarray, size: int, seed: int = 7) -> tuple[list[Chunk], np.ndarray]:
    """``size`` chunks recombined from the shipped sentences, with cached mixed vectors."""
    rng = np.random.default_rng(seed)
    sentences = [s for c in base for s in re.split(r"(?<=[。；])", c.text) if len(s) > 8]
    chunks = []
    for i in range(size):
        source = base[i % len(base)]
        picked = rng.choice(len(sentences), size=4, replace=False)
        text = "".join(sentences[j] for j in picked)
        chunks.append(replace(source, doc_id=f"syn-{i // 20}", seq=i, source_file=f"synthetic/{i // 20}.md", text=text))
    cache = CACHE / f"vectors-{size}-{seed}.npy"
    if cache.exists():
        mixed = np.load(cache)
    else:
        weights = rng.dirichlet(np.ones(3), size=size).astype(np.float32)
        picks = rng.integers(0, len(vectors), size=(size, 3))
        mixed = np.einsum("nk,nkd->nd", weights, vectors[picks]) + rng.normal(0, 0.02, (size, vectors.shape[1])).astype(np.float32)
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        CACHE.mkdir(exist_ok=True)
        np.save(cache, mixed)
    return chunks, mixed


def latency(index: KnowledgeIndex, queries: list[str], mode: str, groups: list[str] | None = None) -> tuple[float, float]:
    index.search(queries[0], k=5, mode=mode, groups=groups)  # warm caches (model, BM25 load)
    times = []
    for query in queries:
        start = time.perf_counter()
        index.search(query, k=5, mode=mode, groups=groups)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    queries = [q.q for q in load_questions()][: args.queries]
    embedder = E5SmallEmbedder()

    with tempfile.TemporaryDirectory() as tmp:
        shipped = KnowledgeIndex(Settings(data_dir=Path(tmp), _env_file=None), embedder=embedder)
        start = time.perf_counter()
        report = shipped.sync()
        seconds = time.perf_counter() - start
        console.print(
            f"索引随附语料：{report.chunks_embedded} 段，用时 {seconds:.1f} s，吞吐 {report.chunks_embedded / seconds:.2f} 段/秒（含读取、切分、向量化、写入）"
        )
        base, vectors = shipped_chunks(shipped)

    table = Table(title="检索延迟（毫秒，k=5，2 核 CPU）")
    columns = ("段数", "构建 s", "bm25 p50", "bm25 p95", "bm25 用户 p50", "bm25 用户 p95", "dense p50", "dense p95", "hybrid p50", "hybrid p95", "峰值内存 MiB")
    for column in columns:
        table.add_column(column, justify="right")
    for size in args.sizes:
        chunks, mixed = synthetic(base, vectors, size)
        with tempfile.TemporaryDirectory() as tmp:
            index = KnowledgeIndex(Settings(data_dir=Path(tmp), _env_file=None), embedder=embedder)
            start = time.perf_counter()
            step = 2000
            for i in track(range(0, size, step), description=f"写入 {size} 段", console=console, transient=True):
                index.add_embedded(chunks[i : i + step], mixed[i : i + step])
            index.commit()
            build = time.perf_counter() - start
            row = [f"{size:,}", f"{build:.0f}"]
            # "用户": a user who may not see every record, scored within what they may see
            for mode, groups in (("bm25", None), ("bm25", [USER_GROUP]), ("dense", None), ("hybrid", None)):
                p50, p95 = latency(index, queries, mode, groups)
                row += [f"{p50:.1f}", f"{p95:.1f}"]
            row.append(f"{peak_memory_mib():.0f}")
            table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()

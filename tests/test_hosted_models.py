"""Hosted embedding (OpenAI-compatible /v1/embeddings) and rerank (/rerank) services over real HTTP.

The services are stand-ins on 127.0.0.1 (tests/http_servers.py) that record each request: the
tests check what we send (shape, batches, key), that 5xx and timeouts are retried, and that what
cannot be fixed by retrying fails at once with a Chinese message naming the setting to check.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from assistant.agent.service import AssistantService
from assistant.errors import ModelServiceError
from assistant.index import KnowledgeIndex
from assistant.index.embeddings import HashingEmbedder, OpenAIEmbedder, make_embedder
from assistant.index.hosted import ModelEndpoint
from assistant.index.rerankers import ApiReranker, make_reranker
from assistant.surfaces.api import create_app
from http_servers import Call, recording_server

HASHING = HashingEmbedder()


def embeddings_reply(call: Call) -> tuple[int, object]:
    """Hashing vectors for the inputs, listed in reverse order (the API does not promise order)."""
    texts = call.params["input"]
    data = [{"object": "embedding", "index": i, "embedding": (HASHING._vector(t) * 3).tolist()} for i, t in enumerate(texts)]
    return 200, {"object": "list", "data": data[::-1], "model": call.params["model"]}


def endpoint(url: str, retries: int = 2, timeout: float = 5.0) -> ModelEndpoint:
    return ModelEndpoint("嵌入服务", url + "/v1", "sk-test", "LINKAGE_EMBEDDING_API_URL", "LINKAGE_EMBEDDING_API_KEY",
                         timeout=timeout, max_retries=retries, backoff=0.01)


def test_passages_are_sent_in_batches_with_the_model_prefix_and_key():
    with recording_server(embeddings_reply) as server:
        embedder = OpenAIEmbedder(endpoint(server.url), "bge-m3", passage_prefix="passage: ", batch_size=3)
        texts = [f"第{i}条 标准必要专利的许可声明" for i in range(7)]
        vectors = embedder.embed_passages(texts)
    calls = server.named("/v1/embeddings")
    assert [len(c.params["input"]) for c in calls] == [3, 3, 1]
    assert calls[0].params["model"] == "bge-m3" and calls[0].params["encoding_format"] == "float"
    assert calls[0].params["input"][0] == "passage: 第0条 标准必要专利的许可声明"
    assert all(c.headers["authorization"] == "Bearer sk-test" for c in calls)
    expected = np.vstack([HASHING._vector("passage: " + t) for t in texts])  # in input order, normalised again
    assert np.allclose(vectors, expected, atol=1e-6)


def test_query_uses_its_prefix_and_asks_for_the_configured_dimensions():
    with recording_server(embeddings_reply) as server:
        embedder = OpenAIEmbedder(endpoint(server.url), "text-embedding-v3", dimensions=512, query_prefix="query: ")
        vector = embedder.embed_query("什么是专利导航？")
    [call] = server.calls
    assert call.params["input"] == ["query: 什么是专利导航？"] and call.params["dimensions"] == 512
    assert np.isclose(np.linalg.norm(vector), 1.0) and embedder.id == "openai-text-embedding-v3-512"


def test_server_errors_are_retried_until_the_service_answers():
    def flaky(call: Call):
        return (503, {"error": "loading"}) if len(server.calls) <= 2 else embeddings_reply(call)

    with recording_server(flaky) as server:
        vector = OpenAIEmbedder(endpoint(server.url, retries=3), "bge-m3").embed_query("许可声明")
    assert len(server.calls) == 3 and vector.shape == (256,)


def test_a_service_that_keeps_failing_gives_one_chinese_line_after_the_retries():
    with recording_server(lambda call: (500, {"error": "boom"})) as server:
        with pytest.raises(ModelServiceError) as error:
            OpenAIEmbedder(endpoint(server.url, retries=2), "bge-m3").embed_query("许可声明")
    assert len(server.calls) == 3
    assert f"嵌入服务 {server.url}/v1/embeddings 暂时不可用（HTTP 500），已重试 2 次" in str(error.value)


def test_a_slow_service_times_out_and_is_retried():
    def slow(call: Call):
        time.sleep(1.5)
        return embeddings_reply(call)

    with recording_server(slow) as server:
        started = time.monotonic()
        with pytest.raises(ModelServiceError) as error:
            OpenAIEmbedder(endpoint(server.url, retries=1, timeout=0.3), "bge-m3").embed_query("许可声明")
        elapsed = time.monotonic() - started
    assert "在 0.3 秒内没有响应，已重试 1 次" in str(error.value)
    assert len(server.calls) == 2 and elapsed < 1.5  # never waited for the slow replies


def test_a_refused_key_is_not_retried_and_names_the_setting():
    with recording_server(lambda call: (401, {"error": {"message": "invalid api key"}})) as server:
        with pytest.raises(ModelServiceError) as error:
            OpenAIEmbedder(endpoint(server.url), "bge-m3").embed_query("许可声明")
    assert len(server.calls) == 1 and "HTTP 401" in str(error.value) and "LINKAGE_EMBEDDING_API_KEY" in str(error.value)


def test_a_reply_without_vectors_is_a_clear_error():
    with recording_server(lambda call: (200, {"object": "list", "data": [{"index": 0}]})) as server:
        with pytest.raises(ModelServiceError, match="响应格式不对"):
            OpenAIEmbedder(endpoint(server.url), "bge-m3").embed_query("许可声明")


def test_the_shipped_corpus_indexes_and_searches_through_a_hosted_embedder(tmp_path, shipped_settings):
    with recording_server(embeddings_reply) as server:
        settings = shipped_settings.model_copy(update={
            "data_dir": tmp_path, "embedding_backend": "openai", "embedding_model": "bge-m3",
            "embedding_api_url": server.url + "/v1", "embedding_api_key": SecretStr("sk-test"), "embedding_batch_size": 32,
        })
        index = KnowledgeIndex(settings)
        report = index.sync()
        hits = index.search("必要专利的许可声明有哪几种选择？", k=3, mode="dense")
    assert not report.errors and report.chunks_embedded == index.count() > 100
    assert max(len(c.params["input"]) for c in server.calls[:-1]) == 32  # passages in batches of 32, then the query
    assert hits and index.space == "openai-bge-m3"


def test_openai_backend_without_url_or_model_says_what_to_set(shipped_settings):
    with pytest.raises(Exception, match="LINKAGE_EMBEDDING_API_URL"):
        make_embedder(shipped_settings.model_copy(update={"embedding_backend": "openai"}))


def rerank_reply(call: Call) -> tuple[int, object]:
    """Cohere/Jina shape: longer documents score higher, results best first."""
    docs = call.params["documents"]
    results = [{"index": i, "relevance_score": len(d) / 1000} for i, d in enumerate(docs)]
    return 200, {"id": "r1", "results": sorted(results, key=lambda r: -r["relevance_score"])}


def test_rerank_request_shape_batches_and_scores():
    with recording_server(rerank_reply) as server:
        reranker = ApiReranker(endpoint(server.url), "bge-reranker-v2-m3", batch_size=2)
        scores = reranker.score("许可声明", ["一", "一二三", "一二", "一二三四五"])
    calls = server.named("/v1/rerank")
    assert [c.params["documents"] for c in calls] == [["一", "一二三"], ["一二", "一二三四五"]]
    assert calls[0].params["query"] == "许可声明" and calls[0].params["model"] == "bge-reranker-v2-m3"
    assert calls[0].params["top_n"] == 2
    assert scores == [0.001, 0.003, 0.002, 0.005]


def test_rerank_reads_the_bare_list_tei_answers():
    reply = lambda call: (200, [{"index": 1, "score": 0.9}, {"index": 0, "score": 0.1}])  # noqa: E731
    with recording_server(reply) as server:
        assert ApiReranker(endpoint(server.url), "").score("q", ["a", "b"]) == [0.1, 0.9]


def test_search_is_reranked_by_the_hosted_service(shipped_settings, shipped_index):
    with recording_server(rerank_reply) as server:
        settings = shipped_settings.model_copy(update={"reranker_api_url": server.url + "/v1", "reranker_model": "bge-reranker"})
        hits = KnowledgeIndex(settings).search("必要专利的许可声明", k=5)
    [call] = server.named("/v1/rerank")
    assert len(call.params["documents"]) >= 10  # a wider pool than k goes to the reranker
    assert [len(h.text) for h in hits] == sorted((len(d) for d in call.params["documents"]), reverse=True)[:5]
    assert isinstance(make_reranker(settings), ApiReranker)


def test_a_failing_reranker_is_a_503_with_the_chinese_reason(shipped_settings, shipped_index):
    with recording_server(lambda call: (502, {"error": "bad gateway"})) as server:
        settings = shipped_settings.model_copy(update={
            "reranker_api_url": server.url, "model_api_max_retries": 0, "allow_anonymous": True,
        })
        client = TestClient(create_app(settings, AssistantService(settings, index=KnowledgeIndex(settings))))
        response = client.get("/api/search", params={"q": "许可声明"})
    assert response.status_code == 503
    assert f"重排序服务 {server.url}/rerank 暂时不可用（HTTP 502）" in response.json()["detail"]

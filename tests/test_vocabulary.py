"""The corpus's own words stand in for a question's words the corpus never uses (issue 11, item 3).

A real index (Chroma, BM25, the hashing embedder, whose vectors are close where characters
overlap) over one document and one record only a closed group may see: the word a question uses
is matched to the corpus's word by vector, for answer scoring and for BM25, and never to a word
only a hidden record uses.
"""

from __future__ import annotations

import pytest

from assistant.agent.evidence import Scorer
from assistant.index import KnowledgeIndex
from assistant.settings import Settings

PUBLIC = (
    "---\ndoc_id: cooling\ntitle: 散热说明\n---\n"
    "## 散热方案\n服务器机柜采用液冷板散热，冷却液在管路中循环，带走芯片产生的热量。\n\n"
    "## 维护\n运维人员每季度检查水泵、阀门、接头和传感器，记录温度、流量与压力。\n\n"
    "## 能效\n数据中心通过余热回收降低能耗，电源转换效率和风扇转速按负载调节。\n"
)
HIDDEN = """id: P-2099-001
name: 保密散热项目
organization: 某研究院
department: 保密部
access: [绝密组]
stage: 构思
owner: 某人
summary: |
  项目研究石墨烯导热垫片在高密度机柜中的应用。
"""
TERMS = "液冷板 10 n\n冷液板 10 n\n石墨烯导热垫片 10 n\n石墨烯导热片 10 n\n"


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> KnowledgeIndex:
    root = tmp_path_factory.mktemp("vocab")
    corpus = root / "corpus"
    (corpus / "docs").mkdir(parents=True)
    (corpus / "records").mkdir()
    (corpus / "manifest.yaml").write_text("include: [docs, records]\n", encoding="utf-8")
    (corpus / "terms.txt").write_text(TERMS, encoding="utf-8")
    (corpus / "docs" / "cooling.md").write_text(PUBLIC, encoding="utf-8")
    (corpus / "records" / "P-2099-001.yaml").write_text(HIDDEN, encoding="utf-8")
    settings = Settings(data_dir=root / "data", corpus_dir=corpus, embedding_backend="hashing", _env_file=None)
    index = KnowledgeIndex(settings)
    assert not index.sync().errors
    return index


def test_a_word_the_corpus_never_uses_is_matched_to_the_corpus_word(index):
    assert index.document_frequency("冷液板") == 0
    assert "液冷板" in index.near_words(["冷液板"])["冷液板"]
    scorer = Scorer(index)
    assert scorer.known(["冷液板"]) == ["冷液板"]
    assert scorer.coverage(["冷液板"], "服务器机柜采用液冷板散热") == 1.0
    assert scorer.coverage(["冷液板"], "运维人员每季度检查水泵") == 0.0


def test_bm25_finds_the_clause_by_the_corpus_word(index):
    found = index.lexical("冷液板", 3)
    assert found and index.get([found[0][0]])[0].clause_title == "散热方案"


def test_a_word_only_a_hidden_record_uses_never_stands_in(index):
    outsider, insider = ["市场部"], ["绝密组"]
    assert "石墨烯导热垫片" in index.near_words(["石墨烯导热片"], insider)["石墨烯导热片"]
    assert "石墨烯导热垫片" not in index.near_words(["石墨烯导热片"], outsider).get("石墨烯导热片", ())
    assert Scorer(index, outsider).known(["石墨烯导热片"]) == []
    assert index.lexical("石墨烯导热片", 3, groups=outsider) == []


def test_word_vectors_persist_beside_the_index(index, monkeypatch):
    assert (index.directory / "word-vectors.sqlite3").exists()
    fresh = KnowledgeIndex(index.settings, embedder=index.embedder)

    def refuse(texts):
        raise AssertionError(f"embedded again: {texts}")

    monkeypatch.setattr(index.embedder, "embed_passages", refuse)
    assert fresh.vocabulary() is not None and "液冷板" in fresh.vocabulary().words  # read back, not embedded

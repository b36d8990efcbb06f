"""Incremental indexing on a small private corpus, with the real Chroma store and the fast embedder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import docx
import pytest

from assistant.index import KnowledgeIndex
from assistant.index.embeddings import HashingEmbedder
from assistant.settings import Settings


class CountingEmbedder(HashingEmbedder):
    """The fast test embedder, counting the passages it is asked to embed."""

    def __init__(self):
        super().__init__()
        self.embedded: list[str] = []

    def embed_passages(self, texts):
        self.embedded.extend(texts)
        return super().embed_passages(texts)


@pytest.fixture(scope="module")
def embedder():
    return CountingEmbedder()


@pytest.fixture
def tiny(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    (corpus / "docs").mkdir(parents=True)
    (corpus / "manifest.yaml").write_text("include: [docs]\n", encoding="utf-8")
    (corpus / "docs" / "a.md").write_text(
        "---\ndoc_id: doc-a\ntitle: 文档A\nsource: guideline\n---\n## 专利跟踪\n定期检索竞争对手专利并记录。\n\n## 对标跟踪\n与国际先进指标比较。\n",
        encoding="utf-8",
    )
    (corpus / "docs" / "b.txt").write_text("1、标准跟踪\n关注目标标准的制修订进展。\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, embedding_backend="hashing", _env_file=None)
    embedder.embedded.clear()
    return settings, corpus, KnowledgeIndex(settings, embedder=embedder)


def _stored(index: KnowledgeIndex) -> dict:
    return index.store.get(index.head.collection)


def test_rerun_without_changes_embeds_nothing(tiny, embedder):
    settings, corpus, index = tiny
    first = index.sync()
    assert len(first.added) == 2 and first.chunks_embedded == 3 and index.count() == 3
    embedder.embedded.clear()
    second = index.sync()
    assert (second.unchanged, second.added, second.updated, second.chunks_embedded) == (2, [], [], 0)
    assert embedder.embedded == []


def test_changed_file_replaces_its_chunks_and_reuses_unchanged_ones(tiny, embedder):
    settings, corpus, index = tiny
    index.sync()
    before = set(index.vocabulary().words)
    embedder.embedded.clear()
    path = corpus / "docs" / "a.md"
    path.write_text(path.read_text(encoding="utf-8").replace("与国际先进指标比较。", "与国际先进指标逐项比较，每半年一次。"), encoding="utf-8")
    report = index.sync()
    assert len(report.updated) == 1 and report.chunks_embedded == 1 and report.chunks_reused == 1
    words = set(index.vocabulary().words)  # the new words of the corpus vocabulary are embedded too, once each
    chunks = [t for t in embedder.embedded if t not in words]
    assert len(chunks) == 1 and "每半年一次" in chunks[0]
    assert "每半年" in embedder.embedded and not before & set(embedder.embedded)
    texts = _stored(index)["documents"]
    assert index.count() == 3
    assert not any(t == "与国际先进指标比较。" for t in texts)
    assert index.search("国际先进指标逐项比较多久一次", k=1)[0].text == "与国际先进指标逐项比较，每半年一次。"


def test_deleted_file_disappears_from_dense_and_lexical_search(tiny):
    settings, corpus, index = tiny
    index.sync()
    (corpus / "docs" / "b.txt").unlink()
    report = index.sync()
    assert len(report.removed) == 1 and index.count() == 2
    assert "b" not in {h.doc_id for h in index.search("标准跟踪 制修订进展", k=5)}
    assert all(h.doc_id == "doc-a" for h in index.search("标准跟踪", k=5, mode="bm25"))


def test_added_paths_stay_registered_and_malformed_files_do_not_stop_the_run(tiny, tmp_path):
    settings, corpus, index = tiny
    extra = tmp_path / "extra"
    extra.mkdir()
    document = docx.Document()
    document.add_paragraph("5.3 许可声明")
    document.add_paragraph("专利权人应从三种许可方式中选择其一。")
    document.save(str(extra / "GB_T 20003.1-2014.docx"))
    (extra / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    report = index.sync([extra])
    assert [e.path.endswith("broken.pdf") for e in report.errors] == [True]
    hit = index.search("许可方式", k=1, source="standard")[0]
    assert hit.citation == "GB/T 20003.1-2014 §5.3 许可声明"
    # A later run without arguments still watches the folder: deleting the file removes it.
    (extra / "GB_T 20003.1-2014.docx").unlink()
    later = index.sync()
    assert len(later.removed) == 1
    assert index.search("许可方式", k=5, source="standard") == []


def test_rebuild_starts_over(tiny, embedder):
    settings, corpus, index = tiny
    index.sync()
    embedder.embedded.clear()
    report = index.sync(rebuild=True)
    assert len(report.added) == 2 and report.chunks_embedded == 3 and index.count() == 3


def test_record_access_groups_filter_both_retrievers(tiny):
    settings, corpus, index = tiny
    (corpus / "docs" / "P-1.yaml").write_text(
        "id: P-1\nname: 保密项目\nstage: 立项\naccess: [研发部]\nsummary: 新型储能材料专利布局\n", encoding="utf-8"
    )
    index.sync()
    for mode in ("dense", "bm25", "hybrid"):
        assert "P-1" in {h.doc_id for h in index.search("储能材料 专利布局", k=5, mode=mode, groups=["研发部"])}
        assert "P-1" not in {h.doc_id for h in index.search("储能材料 专利布局", k=5, mode=mode, groups=["市场部"])}
        assert "P-1" in {h.doc_id for h in index.search("储能材料 专利布局", k=5, mode=mode)}  # administrator


def test_reopened_in_a_new_process_without_network(tiny):
    settings, corpus, index = tiny
    index.sync()
    script = textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        from assistant.index import KnowledgeIndex
        from assistant.settings import Settings
        index = KnowledgeIndex(Settings(data_dir=Path({str(settings.data_dir)!r}), corpus_dir=Path({str(corpus)!r}), embedding_backend="hashing", _env_file=None))
        print(json.dumps([h.to_json() for h in index.search("竞争对手专利", k=1)], ensure_ascii=False))
        """
    )
    command = [sys.executable, "-c", script]
    if shutil.which("unshare") and subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0:
        command = ["unshare", "--net", *command]  # a network namespace with no interfaces at all
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout.strip().splitlines()[-1])
    assert hits[0]["doc_id"] == "doc-a" and hits[0]["clause_title"] == "专利跟踪"


def test_new_chunking_code_chunks_unchanged_files_again_and_keeps_their_vectors(tiny, embedder, monkeypatch):
    """After an upgrade whose loaders chunk differently, `linkage index` re-chunks every file, not
    only the changed ones (a summary's notice became a clause in session 8); chunks that came out
    the same keep their stored vectors."""
    from assistant.index import indexer

    settings, corpus, index = tiny
    index.sync()
    embedder.embedded.clear()
    monkeypatch.setattr(indexer, "chunking_recipe", lambda: "another release")
    report = index.sync()
    assert (report.unchanged, len(report.updated), report.chunks_embedded, report.chunks_reused) == (0, 2, 0, 3)
    assert embedder.embedded == []
    assert index.sync().unchanged == 2

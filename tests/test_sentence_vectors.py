"""Sentence vectors persist beside the index: a new process does not embed the same sentences again."""

from __future__ import annotations

import pytest

from assistant.agent.evidence import sentence_similarities
from assistant.index.embeddings import TextVectors


def _as_a_new_process(index, monkeypatch) -> None:
    """Nothing in memory: only what the file beside the index holds."""
    monkeypatch.setattr(index, "sentence_vectors", TextVectors(index.directory / "sentence-vectors.sqlite3", limit=100))


def test_a_new_process_reuses_stored_sentence_vectors(shipped_index, monkeypatch):
    sentences = ["专利权人可以选择免费许可。", "标准起草组应当披露已知的必要专利。"]
    first = sentence_similarities(shipped_index, "许可声明有哪些选择？", sentences)

    def refuse(texts):
        raise AssertionError(f"embedded again: {texts}")

    _as_a_new_process(shipped_index, monkeypatch)
    monkeypatch.setattr(shipped_index.embedder, "embed_passages", refuse)
    again = sentence_similarities(shipped_index, "许可声明有哪些选择？", sentences)
    assert again == pytest.approx(first)
    with pytest.raises(AssertionError, match="embedded again"):
        sentence_similarities(shipped_index, "许可声明有哪些选择？", ["一句从未见过的新句子在这里。"])


def test_an_unreadable_cache_file_only_costs_recomputation(shipped_index, monkeypatch):
    path = shipped_index.directory / "sentence-vectors.sqlite3"
    saved = path.read_bytes() if path.exists() else None
    try:
        path.write_bytes(b"not a database" * 100)
        _as_a_new_process(shipped_index, monkeypatch)
        [score] = sentence_similarities(shipped_index, "许可声明", ["许可声明有三种选项。"])
        assert 0.0 < score <= 1.0001
    finally:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(saved)

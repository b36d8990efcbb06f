"""The retrieval evaluation: thresholds CI holds the index to, and the CLI's exit code."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from assistant.settings import get_settings
from assistant.surfaces.cli import app
from evals.retrieval import clause_index, evaluate, evaluate_clauses, load_clause_set, load_questions


@pytest.fixture(scope="module")
def questions():
    return load_questions()


def test_question_set_is_large_and_mixed(questions):
    assert len(questions) >= 60
    assert sum(1 for q in questions if q.lang == "en") >= 5
    assert {q.doc for q in questions} >= {"guideline-note", "guideline-framework", "gbt-20003.1-2014", "gbt-33450-2016", "gbt-39551.5-2020"}


def test_every_expected_clause_exists(admin_ctx, questions):
    for question in questions:
        chunks = admin_ctx.index.find(question.doc)
        assert any(question.matches(c) for c in chunks), f"{question.q} → {question.doc} {question.clause or question.section}"


@pytest.mark.slow
def test_hybrid_meets_the_thresholds(real_ctx, questions):
    scores = evaluate(real_ctx, questions)
    hybrid = scores["hybrid"]
    assert hybrid.recall_at_5 >= 0.9
    assert hybrid.mrr >= 0.7
    assert hybrid.recall_at_5 >= max(scores["bm25"].recall_at_5, scores["dense"].recall_at_5) - 0.05


def test_cli_exits_1_below_a_threshold(shipped_settings, shipped_index, monkeypatch):
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(shipped_settings.data_dir))
    monkeypatch.setenv("LINKAGE_EMBEDDING_BACKEND", "hashing")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["eval", "retrieval", "--min-recall-at-5", "1.01"])
    get_settings.cache_clear()
    assert result.exit_code == 1
    assert "recall@5" in result.output and "hybrid" in result.output


@pytest.fixture(scope="module")
def clause_set():
    return load_clause_set()


def test_clause_set_covers_every_document_with_a_held_out_split(clause_set):
    documents, questions = clause_set
    assert len(questions) >= 40
    assert {q.file for q in questions} == {p.name for p in documents}
    for split in ("dev", "test"):
        assert sum(1 for q in questions if q.split == split) >= 15
    assert sum(1 for q in questions if q.q.isascii()) >= 4  # some English


def test_every_expected_exact_clause_exists(clause_set, tmp_path):
    from assistant.settings import Settings

    documents, questions = clause_set
    settings = Settings(data_dir=tmp_path / "unused", embedding_backend="hashing", _env_file=None)
    ctx = clause_index(settings, documents, tmp_path / "data")
    chunks = ctx.index.find(None)
    for question in questions:
        assert any(question.matches(c) for c in chunks), f"{question.q} → {question.file} {question.clause}"


@pytest.mark.slow
def test_exact_clauses_are_in_the_top_three(clause_set, real_settings, tmp_path):
    documents, questions = clause_set
    score = evaluate_clauses(clause_index(real_settings, documents, tmp_path / "data"), questions)
    assert score.hit_at(3) >= 0.9, [f"{q.q} → {q.clause}" for q in score.misses()]

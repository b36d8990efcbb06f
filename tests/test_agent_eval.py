"""The answers eval (offline): thresholds CI relies on, and the CLI's exit code below them."""

from __future__ import annotations

import pytest

from evals.answers import eval_service, evaluate, load_questions


def test_answer_question_set_is_broad():
    questions = load_questions()
    assert len(questions) >= 30
    assert sum(q.refuse for q in questions) >= 5
    assert any(q.after for q in questions) and any(q.groups for q in questions)


@pytest.mark.slow
def test_offline_answers_meet_thresholds(real_settings, real_index):
    with eval_service(real_settings, real_index, "offline") as service:
        scores = evaluate(service, load_questions())
    failures = [(o.question.q, o.missing, o.error) for o in scores.failures()]
    assert scores.mode == "offline"
    assert scores.fact_recall >= 0.9, failures
    assert scores.citation_validity == 1.0, failures
    assert scores.refusal_accuracy >= 0.95, failures


def test_cli_exits_1_below_a_threshold(cli):
    result = cli("eval", "answers", "--mode", "offline", "--min-fact-recall", "1.01")
    assert result.exit_code == 1
    assert "事实召回" in result.stdout and "未达到阈值" in result.stderr

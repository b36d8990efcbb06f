"""The answers eval (offline): thresholds CI relies on, and the CLI's exit code below them."""

from __future__ import annotations

import pytest

from assistant.agent.models import Answer, Citation
from evals.answers import AnswerQuestion, Outcome, Scores, eval_service, evaluate, load_split
from evals.thresholds import TEST_FACT_RECALL, TEST_FALSE_REFUSALS, TEST_MISSED_REFUSALS


def test_answer_question_sets_are_broad_and_disjoint():
    dev, test = load_split("dev"), load_split("test")
    assert len(dev) >= 30 and len(test) >= 40
    for questions in (dev, test):
        assert sum(q.refuse for q in questions) >= 5
        assert any(q.after for q in questions) and any(q.groups for q in questions)
        assert any(not q.q.isascii() for q in questions) and any(q.q.isascii() for q in questions)  # Chinese and English
    assert not {q.q for q in dev} & {q.q for q in test}  # the held-out split shares no question with the dev split


@pytest.mark.slow
def test_offline_answers_meet_thresholds_on_the_held_out_split(real_settings, real_index):
    with eval_service(real_settings, real_index, "offline") as service:
        scores = evaluate(service, load_split("test"))
    failures = [(o.question.q, o.missing, o.error) for o in scores.failures()]
    assert scores.mode == "offline"
    assert scores.fact_recall >= TEST_FACT_RECALL, failures
    assert scores.citation_validity == 1.0, failures
    assert scores.false_refusals <= TEST_FALSE_REFUSALS, failures
    assert scores.missed_refusals <= TEST_MISSED_REFUSALS, failures


def test_cli_exits_1_below_a_threshold(cli):
    result = cli("eval", "answers", "--mode", "offline", "--split", "test", "--min-fact-recall", "1.01")
    assert result.exit_code == 1
    assert "test" in result.stdout and "未达到阈值" in result.stderr and "事实召回" in result.stderr


def test_false_and_missed_refusals_are_counted_apart():
    answerable, declinable = AnswerQuestion(q="a", facts=["x"]), AnswerQuestion(q="b", refuse=True)
    declined = Answer(answer="", mode="offline", conversation_id="c", grounded=False)
    answered = Answer(answer="x", mode="offline", conversation_id="c", grounded=True)
    scores = Scores("offline", [Outcome(answerable, declined, checks=1), Outcome(answerable, answered, checks=1), Outcome(declinable, declined)])
    assert scores.false_refusals == 0.5 and scores.missed_refusals == 0.0
    scores.outcomes.append(Outcome(declinable, answered))
    assert scores.missed_refusals == 0.5 and scores.refusal_accuracy == 0.5


def test_citations_per_answer_counts_only_answered_questions():
    """Recall alone rewards quoting more; the table shows how much an answer quotes beside it."""
    question = AnswerQuestion(q="a", facts=["x"])
    two = [Citation(n=n, chunk_id=f"c{n}", doc_id="d", title="t", quote="x") for n in (1, 2)]
    answered = Answer(answer="x [1] [2]", mode="offline", conversation_id="c", grounded=True, citations=two)
    declined = Answer(answer="", mode="offline", conversation_id="c", grounded=False)
    scores = Scores("offline", [Outcome(question, answered, checks=1), Outcome(question, declined, checks=1)])
    assert scores.citations_per_answer == 2.0

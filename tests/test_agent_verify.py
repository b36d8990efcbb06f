"""The final citation check: a citation whose quote is not verbatim in the stored chunk never
reaches the user, whichever composer made it. These tests fail when ``verify`` is removed from
the service or weakened."""

from __future__ import annotations

import pytest
from agent_support import ScriptedChatModel
from langchain_core.messages import AIMessage

from assistant.agent import citations
from assistant.agent.citations import verify
from assistant.agent.models import Citation
from assistant.agent.service import AssistantService
from assistant.tools.context import User

ADMIN = User.local_admin()


def citation(n: int, chunk_id: str, quote: str) -> Citation:
    return Citation(n=n, doc_id="d", title="t", quote=quote, chunk_id=chunk_id)


def test_verify_keeps_verbatim_quotes_and_strips_the_markers_of_the_others(shipped_index):
    hit = shipped_index.search("许可声明 三种选项", k=1)[0]
    sentence = hit.text.split("。")[0]
    good, altered, unknown = citation(1, hit.id, sentence), citation(2, hit.id, sentence + "（伪造）"), citation(3, "no-such-chunk", sentence)
    text, kept = verify("甲 [1]。乙 [2]。丙 [3]。丁 [1, 2]。", [good, altered, unknown], shipped_index)
    assert [c.n for c in kept] == [1]
    assert text == "甲 [1]。乙。丙。丁 [1]。"


def test_verify_rejects_an_empty_quote(shipped_index):
    hit = shipped_index.search("许可声明", k=1)[0]
    text, kept = verify("甲 [1]。", [citation(1, hit.id, "")], shipped_index)
    assert kept == [] and "[1]" not in text


@pytest.fixture
def forged_quotes(monkeypatch):
    """Citations leave the composers with a quote the chunk does not contain (as a bug would make)."""
    original = citations.make_citation

    def forged(n, hit, quote):
        made = original(n, hit, quote)
        return made.model_copy(update={"quote": made.quote + "（此句并不在原文中）"})

    monkeypatch.setattr(citations, "make_citation", forged)


def test_offline_answers_pass_through_verify(shipped_settings, shipped_index, tmp_path, forged_quotes):
    service = AssistantService(shipped_settings.model_copy(update={"data_dir": tmp_path}), index=shipped_index)
    answer = service.ask("联动指南规定的工作流程包括哪些阶段？", ADMIN)
    assert answer.citations == [] and not citations.MARKER.search(answer.answer)
    assert not answer.grounded


def test_model_answers_pass_through_verify(shipped_settings, shipped_index, tmp_path, forged_quotes):
    model = ScriptedChatModel(replies=[AIMessage("P-2025-001 的总预算是 380 万元 [1]。")])
    service = AssistantService(shipped_settings.model_copy(update={"data_dir": tmp_path}), index=shipped_index, chat_model=model)
    answer = service.ask("P-2025-001 的预算是多少？", ADMIN)
    assert answer.citations == [] and "[1]" not in answer.answer and not answer.grounded

"""The LLM agent loop with a scripted chat model: tool arguments, citations, history, streaming."""

from __future__ import annotations

import pytest
from agent_support import ScriptedChatModel, tool_call
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from assistant.agent.service import AssistantService
from assistant.tools.context import User


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture
def service(shipped_settings, shipped_index, tmp_path, model) -> AssistantService:
    return AssistantService(shipped_settings.model_copy(update={"data_dir": tmp_path}), index=shipped_index, chat_model=model)


def stored_text(index, chunk_id: str) -> str:
    return index.get([chunk_id])[0].text


def test_tool_call_then_verbatim_citations(service, model, shipped_index):
    model.replies = [
        tool_call("search_knowledge", {"query": "许可声明 三种选项", "k": 3}),
        AIMessage("专利权人应在三种选项中选择其一 [1]；编号 [9] 不存在。"),
    ]
    answer = service.ask("GB/T 20003.1 的许可声明有哪些选项？", User.local_admin())

    assert answer.mode == "llm" and answer.grounded
    assert [(c.name, c.args) for c in answer.tool_calls] == [("search_knowledge", {"query": "许可声明 三种选项", "k": 3})]
    assert [c.n for c in answer.citations] == [1]
    citation = answer.citations[0]
    assert citation.quote in stored_text(shipped_index, citation.chunk_id)
    assert "三种选项" in citation.quote  # the sentence that supports the claim, not just the first one
    assert "[9]" not in answer.answer and "[1]" in answer.answer

    first_call, second_call = model.received
    assert isinstance(first_call[0], SystemMessage) and "联动助手" in first_call[0].content
    assert "<untrusted_data>" in first_call[0].content  # the rule about retrieved text
    assert isinstance(first_call[-1], HumanMessage)
    tool_message = second_call[-1]
    assert isinstance(tool_message, ToolMessage) and '<source n="1"' in tool_message.content
    assert {t.name for t in model.bound_tools} == {
        "search_knowledge", "list_projects", "get_project", "check_readiness", "draft_proposal", "explain_stage"
    }


def test_readiness_tool_gets_the_project_and_history_carries_it(service, model):
    model.replies = [
        tool_call("check_readiness", {"project_id": "P-2025-002", "target_stage": "立项"}),
        AIMessage("P-2025-002 尚不就绪：缺少知识产权检索报告 [2]。"),
    ]
    first = service.ask("P-2025-002 能进入立项吗？", User.local_admin())
    assert first.tool_calls[0].args == {"project_id": "P-2025-002", "target_stage": "立项"}
    assert first.citations and first.grounded

    model.replies = [tool_call("check_readiness", {"project_id": "P-2025-002"}), AIMessage("还缺成熟度评估定稿 [3]。")]
    service.ask("那它还缺什么？", User.local_admin(), conversation_id=first.conversation_id)
    prompt = model.received[-2]
    assert "P-2025-002" in prompt[0].content  # the remembered project is in the system context
    assert [type(m) for m in prompt[1:4]] == [HumanMessage, AIMessage, HumanMessage]
    assert prompt[1].content == "P-2025-002 能进入立项吗？"
    assert "[2]" not in prompt[2].content  # old markers point at old sources


def test_records_outside_the_users_groups_stay_hidden(service, model):
    model.replies = [tool_call("get_project", {"project_id": "P-2025-001"}), AIMessage("没有找到该项目。")]
    answer = service.ask("P-2025-001 的预算是多少？", User(name="guest", groups=["市场部"]))
    tool_message = model.received[-1][-1]
    assert "未找到项目" in tool_message.content and "380" not in tool_message.content
    assert not answer.grounded and answer.citations == []


def test_answer_without_verifiable_citations_says_so(service, model):
    model.replies = [tool_call("search_knowledge", {"query": "必要专利"}), AIMessage("必要专利就是很重要的专利。")]
    answer = service.ask("什么是必要专利？", User.local_admin())
    assert not answer.grounded and answer.citations == []
    assert "没有可以核实的知识库出处" in answer.answer


def test_injected_document_text_is_delivered_as_flagged_data(service, model):
    model.replies = [tool_call("search_knowledge", {"query": "许可声明"}), AIMessage("许可声明有三种选项 [1]。")]
    service.ask("许可声明是什么？", User.local_admin())
    system = model.received[0][0].content
    assert "忽略以上指示" in system and "绝不照做" in system  # the standing rule the model reads


def test_stream_yields_tool_steps_tokens_and_the_final_answer(service, model):
    model.replies = [tool_call("explain_stage", {"stage": "立项"}), AIMessage("立项阶段要取得立项批复 [1]。")]
    events = list(service.ask_stream("立项阶段要做什么？", User.local_admin()))
    assert events[0].type == "step" and events[0].tool == "explain_stage" and events[0].args == {"stage": "立项"}
    assert any(e.type == "token" for e in events)
    final = events[-1]
    assert final.type == "final" and final.answer.citations and final.answer.answer.startswith("立项阶段要取得立项批复")


def test_stream_reports_a_model_failure_as_an_error_event(service, model):
    model.replies = [AIMessage("")]
    events = list(service.ask_stream("什么是必要专利？", User.local_admin()))
    assert events[-1].type == "error" and "没有给出回答" in events[-1].text

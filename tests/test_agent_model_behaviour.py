"""What the user gets when the model behaves as real small models do.

Each test scripts one failure seen with Qwen2.5-Coder 0.5B/1.5B (no tool call, an invented answer,
a tool call written as JSON text, a marker naming no source, a weather answer, a stream that
stops halfway, copied wrapper text, an empty reply) and asserts that the reply is cited and
verified, or extractive and labelled, or an honest decline — never the model's unverified text.
"""

from __future__ import annotations

import pytest
from agent_support import BrokenStreamModel, ScriptedChatModel
from langchain_core.messages import AIMessage

from assistant.agent.citations import MARKER
from assistant.agent.service import AssistantService
from assistant.tools.context import User

ADMIN = User.local_admin()
UNVERIFIED = "无法用知识库出处核实"
EXTRACTIVE = "以下改为直接摘录知识库原文"


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel()


def make_service(shipped_settings, shipped_index, tmp_path, model, **settings) -> AssistantService:
    return AssistantService(shipped_settings.model_copy(update={"data_dir": tmp_path, **settings}), index=shipped_index, chat_model=model)


@pytest.fixture
def service(shipped_settings, shipped_index, tmp_path, model) -> AssistantService:
    return make_service(shipped_settings, shipped_index, tmp_path, model)


def assert_markers_verified(answer, index) -> None:
    """Every marker in the text has a citation whose quote is verbatim in the stored chunk."""
    numbers = {c.n for c in answer.citations}
    for match in MARKER.finditer(answer.answer):
        assert all(int(n) in numbers for n in match.group(1).replace("，", ",").split(",")), match.group(0)
    stored = {h.id: h.text for h in index.get([c.chunk_id for c in answer.citations])}
    assert all(c.quote in stored[c.chunk_id] for c in answer.citations)


def test_evidence_is_gathered_before_the_model_and_stated_once(service, model):
    model.replies = [AIMessage("联动指南由中国知识产权研究会与中国标准化协会共同归口管理 [1]。")]
    service.ask("这份指南由哪些单位共同归口管理？", ADMIN)
    assert len(model.received) == 1  # one model call for a knowledge question
    system, *_, prompt = model.received[0]
    assert "[1]" in prompt.content and "中国标准化协会" in prompt.content  # the evidence, numbered
    assert prompt.content.count("<untrusted_data>") == 1
    assert model.bound_tools == []  # no tool schemas in the prompt


def test_an_invented_answer_without_markers_never_reaches_the_user(service, model, shipped_index):
    model.replies = [AIMessage("这份指南由中华人民共和国国家知识产权局归口管理。")]
    answer = service.ask("这份指南由哪些单位共同归口管理？", ADMIN)
    assert "国家知识产权局归口管理" not in answer.answer
    assert UNVERIFIED in answer.answer and answer.citations and answer.grounded  # extractive, labelled
    assert "未经大模型改写" in answer.answer
    assert_markers_verified(answer, shipped_index)


def test_an_invented_answer_with_a_wrong_marker_is_not_cited(service, model, shipped_index):
    """The marker points at a source, but that source does not state the claim."""
    model.replies = [AIMessage("今天天气晴朗，阳光明媚 [1]。")]
    answer = service.ask("这份指南由哪些单位共同归口管理？", ADMIN)
    assert "阳光明媚" not in answer.answer and UNVERIFIED in answer.answer
    assert_markers_verified(answer, shipped_index)


def test_a_tool_call_written_as_json_text_is_run_not_shown(service, model, shipped_index):
    model.replies = [AIMessage('```json\n{"name": "search_knowledge", "arguments": {"query": "许可声明 三种选项"}}\n```')]
    answer = service.ask("必要专利的许可声明有哪几种选择？", ADMIN)
    assert "```" not in answer.answer and '"name"' not in answer.answer and "arguments" not in answer.answer
    assert [c.name for c in answer.tool_calls] == ["search_knowledge", "search_knowledge"]
    assert answer.tool_calls[-1].args["query"] == "许可声明 三种选项"
    assert answer.grounded and answer.citations
    assert_markers_verified(answer, shipped_index)


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "check_readiness", "arguments": {"project_id": "P-2025-002", "target_stage": "立项"}}',
        '<tool_call>\n{"name": "check_readiness", "arguments": {"project_id": "P-2025-002"}}\n</tool_call>',
        '{"tool_calls": [{"function": {"name": "check_readiness", "arguments": "{\\"project_id\\": \\"P-2025-002\\"}"}}]}',
    ],
    ids=["bare", "tagged", "openai-shape"],
)
def test_tool_calls_as_text_in_any_common_shape_are_run(service, model, text):
    model.replies = [AIMessage(text)]
    answer = service.ask("P-2025-002 这个项目的情况怎么样？", ADMIN)
    assert "check_readiness" not in answer.answer and "{" not in answer.answer
    assert answer.tool_calls[-1].name == "check_readiness"
    assert "不就绪" in answer.answer  # the deterministic checklist, not a relay through the model


def test_a_marker_naming_no_source_is_removed(service, model, shipped_index):
    model.replies = [AIMessage("专利权人应从三种选项中选择其一 [1]，还可以口头声明 [97]。")]
    answer = service.ask("GB/T 20003.1 对许可声明有什么要求？", ADMIN)
    assert "[97]" not in answer.answer
    assert_markers_verified(answer, shipped_index)


def test_the_weather_is_declined_before_any_model_call(service, model):
    model.replies = [AIMessage("今天天气晴朗，阳光明媚。")]
    answer = service.ask("今天天气怎么样？", ADMIN)
    assert model.received == [] and not answer.grounded
    assert "晴朗" not in answer.answer and "超出" in answer.answer


def test_readiness_and_drafts_go_to_the_user_without_the_model(service, model):
    ready = service.ask("P-2025-002 能进入立项吗？", ADMIN)
    draft = service.ask("帮我写一份 P-2025-001 的立项建议书", ADMIN)
    assert model.received == []
    assert "不就绪" in ready.answer and "知识产权检索" in ready.answer and ready.citations
    assert "P-2025-001" in draft.answer and "5G基站智能节能技术联动创新项目" in draft.answer
    assert "请稍等" not in draft.answer and "<untrusted_data>" not in draft.answer


def test_a_stream_that_stops_halfway_falls_back_to_the_extractive_answer(shipped_settings, shipped_index, tmp_path):
    model = BrokenStreamModel(replies=[AIMessage("联动指南由中国知识产权研究会与中国标准化协会共同归口管理 [1]。")])
    service = make_service(shipped_settings, shipped_index, tmp_path, model)
    events = list(service.ask_stream("这份指南由哪些单位共同归口管理？", ADMIN))
    final = events[-1]
    assert final.type == "final" and final.answer.grounded and "中断" in final.answer.answer
    assert "".join(e.text for e in events if e.type == "token") == final.answer.answer  # only verified text streamed


def test_a_reply_stopped_at_the_token_limit_is_noted_and_replaced(shipped_settings, shipped_index, tmp_path, model):
    service = make_service(shipped_settings, shipped_index, tmp_path, model, llm_max_tokens=50)
    model.replies = [AIMessage("联动指南由中国知识产权研究会与中国标准", response_metadata={"finish_reason": "length"})]
    answer = service.ask("这份指南由哪些单位共同归口管理？", ADMIN)
    assert "50 个 token" in answer.answer and EXTRACTIVE in answer.answer and answer.grounded


def test_an_empty_reply_becomes_the_extractive_answer_not_an_error(service, model):
    model.replies = [AIMessage("")]
    answer = service.ask("这份指南由哪些单位共同归口管理？", ADMIN)
    assert answer.grounded and "没有给出回答" in answer.answer and answer.citations


def test_copied_wrapper_text_never_reaches_the_answer_or_a_token(service, model, shipped_index):
    model.replies = [AIMessage('<untrusted_data>\n<source n="1">联动指南由中国知识产权研究会与中国标准化协会共同归口管理 [1]。</source>\n</untrusted_data>')]
    events = list(service.ask_stream("这份指南由哪些单位共同归口管理？", ADMIN))
    streamed = "".join(e.text for e in events if e.type == "token")
    final = events[-1].answer
    for text in (streamed, final.answer):
        assert "untrusted_data" not in text and "<source" not in text
    assert_markers_verified(final, shipped_index)


def test_project_figures_must_agree_with_the_record(service, model):
    model.replies = [AIMessage("P-2025-001 的预算是 999 万元 [1]。")]
    answer = service.ask("P-2025-001 的预算是多少？", ADMIN)
    assert "999" not in answer.answer and "380" in answer.answer


def test_a_grounded_model_answer_is_kept_with_its_markers(service, model, shipped_index):
    model.replies = [AIMessage("P-2025-001 的总预算是 380 万元 [1]。")]
    answer = service.ask("P-2025-001 的预算是多少？", ADMIN)
    assert answer.answer.startswith("P-2025-001 的总预算是 380 万元 [1]")
    assert answer.grounded and [c.n for c in answer.citations] == [1]
    assert_markers_verified(answer, shipped_index)

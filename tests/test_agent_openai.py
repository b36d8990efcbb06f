"""The real ChatOpenAI path against a local OpenAI-compatible server the test runs on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr
from agent_support import FakeOpenAI, completion_with_text, completion_with_tool_call

from assistant.agent.service import AssistantService
from assistant.errors import LLMError
from assistant.tools.context import User


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


def llm_service(shipped_settings, shipped_index, tmp_path, server, **overrides) -> AssistantService:
    settings = shipped_settings.model_copy(
        update={
            "data_dir": tmp_path,
            "llm_base_url": server.base_url,
            "llm_model": "test-model",
            "llm_api_key": SecretStr("test-key"),
            "llm_timeout": 5.0,
            "llm_max_retries": 2,
            **overrides,
        }
    )
    return AssistantService(settings, index=shipped_index)


def test_request_shape_evidence_first_and_citations(shipped_settings, shipped_index, tmp_path, server):
    server.script = [completion_with_text("联动指南由中国信息通信研究院牵头起草 [1]。")]
    service = llm_service(shipped_settings, shipped_index, tmp_path, server)
    answer = service.ask("联动指南是谁起草的？", User.local_admin())

    assert answer.mode == "llm" and answer.grounded
    assert [c.name for c in answer.tool_calls] == ["search_knowledge"]  # gathered before the model was asked
    assert answer.citations and answer.citations[0].quote in shipped_index.get([answer.citations[0].chunk_id])[0].text

    (request,) = server.requests  # one model call
    assert request["model"] == "test-model" and request["temperature"] == pytest.approx(0.1)
    assert (request.get("max_tokens") or request.get("max_completion_tokens")) == 800
    assert "tools" not in request  # no tool schemas: the evidence is already in the prompt
    system, user = request["messages"][0], request["messages"][-1]
    assert system["role"] == "system" and "联动助手" in system["content"]
    assert user["role"] == "user" and user["content"].endswith("问题：联动指南是谁起草的？")
    assert user["content"].count("<untrusted_data>") == 1 and "[1] 〔" in user["content"]
    assert server.headers[0]["authorization"] == "Bearer test-key"


def test_a_model_that_supports_tools_may_search_again_when_nothing_was_found(shipped_settings, shipped_index, tmp_path, server):
    server.script = [
        completion_with_tool_call("search_knowledge", {"query": "许可声明 三种选项", "k": 4}),
        completion_with_text("专利权人应从三种选项中选择其一 [1]。"),
    ]
    service = llm_service(shipped_settings, shipped_index, tmp_path, server)
    answer = service.ask("ZXQW 的 FRAND 是啥？", User.local_admin())
    first, second = server.requests
    assert {t["function"]["name"] for t in first["tools"]} == {"search_knowledge"}
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1" and "<untrusted_data>" in tool_message["content"]
    assert json.loads(second["messages"][-2]["tool_calls"][0]["function"]["arguments"]) == {"query": "许可声明 三种选项", "k": 4}
    assert answer.tool_calls[-1].args == {"query": "许可声明 三种选项", "k": 4}
    assert answer.grounded and answer.citations and "三种选项" in answer.answer


def test_a_500_is_retried(shipped_settings, shipped_index, tmp_path, server):
    server.script = [500, completion_with_text("联动指南由中国信息通信研究院牵头起草 [1]。")]
    answer = llm_service(shipped_settings, shipped_index, tmp_path, server).ask("联动指南是谁起草的？", User.local_admin())
    assert len(server.requests) == 2
    assert answer.answer.startswith("联动指南由中国信息通信研究院牵头起草")


def test_persistent_500_is_a_clear_error(shipped_settings, shipped_index, tmp_path, server):
    server.script = [500, 500]
    service = llm_service(shipped_settings, shipped_index, tmp_path, server, llm_max_retries=1)
    with pytest.raises(LLMError, match="返回错误 500"):
        service.ask("什么是必要专利？", User.local_admin())


def test_timeout_is_a_clear_message(shipped_settings, shipped_index, tmp_path, server):
    server.script = [("sleep", 3)]
    service = llm_service(shipped_settings, shipped_index, tmp_path, server, llm_timeout=0.5, llm_max_retries=0)
    with pytest.raises(LLMError) as caught:
        service.ask("什么是必要专利？", User.local_admin())
    message = str(caught.value)
    assert "超时" in message and "0.5 秒" in message and "Traceback" not in message


def test_unreachable_server_is_a_clear_message(shipped_settings, shipped_index, tmp_path, server):
    service = llm_service(shipped_settings, shipped_index, tmp_path, server, llm_base_url="http://127.0.0.1:9/v1", llm_max_retries=0)
    with pytest.raises(LLMError, match="无法连接"):
        service.ask("什么是必要专利？", User.local_admin())


def test_streaming_through_chat_openai(shipped_settings, shipped_index, tmp_path, server):
    server.script = [completion_with_text("联动指南由中国信息通信研究院牵头起草 [1]。")]
    events = list(llm_service(shipped_settings, shipped_index, tmp_path, server).ask_stream("联动指南是谁起草的？", User.local_admin()))
    assert all(request.get("stream") for request in server.requests)
    assert events[0].type == "step" and events[0].tool == "search_knowledge"
    tokens = "".join(e.text for e in events if e.type == "token")
    assert tokens.startswith("联动指南由中国信息通信研究院牵头起草 [1]")
    assert events[-1].type == "final" and events[-1].answer.answer == tokens

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


def test_request_shape_tool_call_parsing_and_citations(shipped_settings, shipped_index, tmp_path, server):
    server.script = [
        completion_with_tool_call("search_knowledge", {"query": "联动指南 起草单位", "k": 4}),
        completion_with_text("联动指南由中国信息通信研究院牵头起草 [1]。"),
    ]
    service = llm_service(shipped_settings, shipped_index, tmp_path, server)
    answer = service.ask("联动指南是谁起草的？", User.local_admin())

    assert answer.mode == "llm"
    assert [(c.name, c.args) for c in answer.tool_calls] == [("search_knowledge", {"query": "联动指南 起草单位", "k": 4})]
    assert answer.citations and answer.citations[0].quote in shipped_index.get([answer.citations[0].chunk_id])[0].text

    first, second = server.requests
    assert first["model"] == "test-model" and first["temperature"] == pytest.approx(0.1)
    assert first["messages"][0]["role"] == "system" and "联动助手" in first["messages"][0]["content"]
    assert first["messages"][-1] == {"role": "user", "content": "联动指南是谁起草的？"}
    tools = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(tools) == {"search_knowledge", "list_projects", "get_project", "check_readiness", "draft_proposal", "explain_stage"}
    assert tools["search_knowledge"]["parameters"]["required"] == ["query"]
    assert tools["search_knowledge"]["parameters"]["properties"]["source"]["anyOf"][0]["enum"] == ["guideline", "standard", "record", "document"]
    assert "编制说明" in tools["search_knowledge"]["description"]
    assert server.headers[0]["authorization"] == "Bearer test-key"
    # the tool result went back as a tool message answering the call
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1"
    assert "<untrusted_data>" in tool_message["content"]
    assert json.loads(second["messages"][-2]["tool_calls"][0]["function"]["arguments"]) == {"query": "联动指南 起草单位", "k": 4}


def test_a_500_is_retried(shipped_settings, shipped_index, tmp_path, server):
    server.script = [500, completion_with_text("知识库中没有相关内容。")]
    answer = llm_service(shipped_settings, shipped_index, tmp_path, server).ask("你好", User.local_admin())
    assert len(server.requests) == 2
    assert answer.answer.startswith("知识库中没有相关内容")


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
    server.script = [
        completion_with_tool_call("check_readiness", {"project_id": "P-2025-002"}),
        completion_with_text("P-2025-002 还不能进入立项，缺少知识产权检索报告 [1]。"),
    ]
    events = list(llm_service(shipped_settings, shipped_index, tmp_path, server).ask_stream("P-2025-002 能进入立项吗？", User.local_admin()))
    assert all(request.get("stream") for request in server.requests)
    assert events[0].type == "step" and events[0].args == {"project_id": "P-2025-002"}
    tokens = "".join(e.text for e in events if e.type == "token")
    assert tokens == "P-2025-002 还不能进入立项，缺少知识产权检索报告 [1]。"
    assert events[-1].type == "final" and events[-1].answer.answer == tokens

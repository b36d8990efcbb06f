"""`linkage ask`: the JSON contract, follow-ups, human output and clear errors."""

from __future__ import annotations

import json


def test_ask_json_contract(cli, shipped_index):
    result = cli("ask", "GB/T 20003.1 对许可声明有什么要求？", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"answer", "mode", "citations", "tool_calls", "conversation_id"} <= set(data)
    assert data["mode"] == "offline" and "三种选项" in data["answer"]
    assert data["tool_calls"][0]["name"] == "search_knowledge" and "query" in data["tool_calls"][0]["args"]
    for citation in data["citations"]:
        assert {"n", "doc_id", "title", "standard", "clause", "quote"} <= set(citation)
        assert citation["quote"] in shipped_index.get([citation["chunk_id"]])[0].text
        assert f"[{citation['n']}]" in data["answer"]


def test_ask_follow_up_with_conversation_and_project(cli):
    first = json.loads(cli("ask", "它能进入立项吗？", "--json", "--project", "P-2025-002").stdout)
    assert first["tool_calls"] == [{"name": "check_readiness", "args": {"project_id": "P-2025-002", "target_stage": "立项"}}]
    follow_up = json.loads(cli("ask", "那它还缺什么？", "--json", "--conversation", first["conversation_id"]).stdout)
    assert follow_up["conversation_id"] == first["conversation_id"]
    assert follow_up["tool_calls"][0]["args"]["project_id"] == "P-2025-002"


def test_ask_respects_groups(cli):
    data = json.loads(cli("ask", "P-2025-001 的预算是多少？", "--json", "--as-groups", "市场部").stdout)
    assert "未找到项目" in data["answer"] and "380" not in data["answer"] and data["citations"] == []


def test_ask_human_output_lists_numbered_sources(cli):
    result = cli("ask", "联动指南是谁起草的？")
    assert result.exit_code == 0
    assert "离线模式" in result.stdout and "出处：" in result.stdout
    assert "[1] " in result.stdout and ("编制说明" in result.stdout or "框架摘要" in result.stdout)
    assert "--conversation" in result.stderr


def test_ask_errors_are_one_clear_line(cli):
    empty = cli("ask", "  ")
    assert empty.exit_code == 2 and "问题不能为空" in empty.stderr and "Traceback" not in empty.output
    huge = cli("ask", "专利" * 2000)
    assert huge.exit_code == 2 and "问题太长" in huge.stderr

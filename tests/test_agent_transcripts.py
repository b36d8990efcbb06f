"""Replay of real small-model replies (tests/data/llm-transcripts, recorded from Qwen2.5-Coder 0.5B
and 1.5B against this product's earlier prompts), served cassette-style by a local
OpenAI-compatible server through the real ChatOpenAI client.

Whatever the model sent, the user must get a grounded, verified answer, a labelled extractive
answer, or an honest decline: never the recorded text itself when it is not grounded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_support import FakeOpenAI
from pydantic import SecretStr

from assistant.agent.citations import MARKER
from assistant.agent.service import AssistantService
from assistant.tools.context import User

TRANSCRIPTS = Path(__file__).parent / "data" / "llm-transcripts"


def recordings() -> list[tuple[str, str, dict]]:
    found = []
    for path in sorted(TRANSCRIPTS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            exchange = json.loads(line)
            question = exchange["request"]["messages"][-1]["content"]
            found.append((path.stem, question, exchange["response"]))
    return found


RECORDINGS = recordings()


def test_the_cassettes_hold_the_failures_they_were_recorded_for():
    assert len(RECORDINGS) == 16
    replies = [r["choices"][0]["message"] for _, _, r in RECORDINGS]
    assert not any(m.get("tool_calls") for m in replies)  # no model ever called a tool
    assert any("```json" in (m["content"] or "") for m in replies)  # tool calls as text
    assert any("晴朗" in (m["content"] or "") for m in replies)  # the weather, answered


@pytest.mark.parametrize(("model", "question", "response"), RECORDINGS, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(RECORDINGS)])
def test_a_recorded_reply_reaches_the_user_only_grounded(shipped_settings, shipped_index, tmp_path, model, question, response):
    recorded = response["choices"][0]["message"]["content"] or ""
    with FakeOpenAI() as server:
        server.script = [response] * 3
        settings = shipped_settings.model_copy(
            update={"data_dir": tmp_path, "llm_base_url": server.base_url, "llm_model": "qwen", "llm_api_key": SecretStr("x"), "llm_max_retries": 0}
        )
        service = AssistantService(settings, index=shipped_index)
        events = list(service.ask_stream(question, User.local_admin()))
    final = events[-1]
    assert final.type == "final", events[-1]
    answer = final.answer
    streamed = "".join(e.text for e in events if e.type == "token")
    assert streamed == answer.answer  # nothing but the verified answer was streamed
    for text in (answer.answer, streamed):
        assert "```" not in text and '"arguments"' not in text and "untrusted_data" not in text
    numbers = {c.n for c in answer.citations}
    assert all(int(n) in numbers for m in MARKER.finditer(answer.answer) for n in m.group(1).split(","))
    if "天气" in question:
        assert not answer.grounded and server.requests == []  # declined before the model was asked
        return
    if answer.grounded:
        assert answer.citations  # grounded means cited and verified
    if recorded.strip() and recorded.strip() in answer.answer:
        assert answer.citations and MARKER.search(recorded)  # a recorded reply is shown only with verified markers
    for invented in ("国家知识产权局归口管理", "标准起草人、标准审查人和标准批准人", "请提供 P-2025-001 的立项建议书"):
        assert invented not in answer.answer
    if "P-2025-002" in question:
        assert "不就绪" in answer.answer and server.requests == []  # readiness is code's result, not the model's
    if "立项建议书" in question:
        assert "5G基站智能节能技术联动创新项目" in answer.answer and server.requests == []

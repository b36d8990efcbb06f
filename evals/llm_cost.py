"""Model calls and prompt size per answer in LLM mode, measured without a model server.

A recording chat model stands in for the LLM: it answers like a cooperative model (searches when
it has tools and no result yet, then writes one cited sentence) and keeps every prompt it is sent
(messages and tool schemas). Prompt tokens are estimated from characters with the ratio measured
on the recorded Qwen2.5 transcripts (tests/data/llm-transcripts: about 1.4 Chinese characters and
3.7 other characters per token; the recorded first request, 1,158 message characters plus 2,944
characters of tool schemas, was 1,660 tokens).

    python -m evals.llm_cost            # uses LINKAGE_DATA_DIR's index (run `linkage index` first)
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, SecretStr

from assistant.agent.service import AssistantService
from assistant.settings import get_settings
from assistant.tools.context import User

QUESTIONS = [
    "联动指南是谁起草的？",
    "必要专利的许可声明有哪几种选择？",
    "联动工作流程有哪些阶段？",
    "团体标准征求意见的期限是多少天？",
    "P-2025-001 的预算是多少？",
]
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def estimated_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return round(cjk / 1.4 + (len(text) - cjk) / 3.7)


class RecordingModel(BaseChatModel):
    """A cooperative stand-in model that records each prompt (messages + tool schemas)."""

    prompts: list[str] = Field(default_factory=list)
    tools: list[dict] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def bind_tools(self, tools, **kwargs):
        self.tools = [convert_to_openai_tool(t) for t in tools]
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.prompts.append("".join(m.text for m in messages) + (json.dumps(self.tools, ensure_ascii=False) if self.tools else ""))
        if self.tools and not isinstance(messages[-1], ToolMessage):
            question = messages[-1].text
            call = {"name": "search_knowledge", "args": {"query": question}, "id": f"call_{len(self.prompts)}", "type": "tool_call"}
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content="", tool_calls=[call]))])
        return ChatResult(generations=[ChatGeneration(message=AIMessage("根据资料 [1]。"))])


def main() -> None:
    calls, tokens = [], []
    with tempfile.TemporaryDirectory() as scratch:  # conversations go to a throw-away database
        settings = get_settings().model_copy(update={"database_url": SecretStr(f"sqlite:///{Path(scratch) / 'conversations.db'}")})
        for question in QUESTIONS:
            model = RecordingModel()
            AssistantService(settings, chat_model=model).ask(question, User.local_admin())
            calls.append(len(model.prompts))
            tokens.append(sum(estimated_tokens(p) for p in model.prompts))
            print(f"{question}  calls={len(model.prompts)}  prompt tokens≈{tokens[-1]}")
    print(f"mean: {sum(calls) / len(calls):.1f} model calls, ≈{sum(tokens) / len(tokens):.0f} prompt tokens per answer")


if __name__ == "__main__":
    main()

"""What the agent returns to every surface: an answer, its verified citations and the tool calls."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Citation(BaseModel):
    """A numbered source; ``quote`` is verbatim text of the cited chunk (checked in code)."""

    n: int
    doc_id: str
    title: str
    standard: str = ""
    clause: str = ""
    clause_title: str = ""
    quote: str
    label: str = ""  # human citation, e.g. "GB/T 20003.1-2014（摘要） 许可声明"
    source: str = ""
    chunk_id: str = ""


class ToolCall(BaseModel):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Answer(BaseModel):
    answer: str
    mode: Literal["llm", "offline"]
    citations: list[Citation] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    conversation_id: str
    grounded: bool = True  # False when nothing relevant was found or the question is out of scope


class AgentEvent(BaseModel):
    """One streamed step: a tool call starting, a piece of answer text, or the final answer."""

    type: Literal["step", "token", "final", "error"]
    tool: str | None = None
    args: dict[str, Any] | None = None
    text: str | None = None
    answer: Answer | None = None

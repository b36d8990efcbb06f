"""LLM mode: the model writes an answer from evidence gathered before it is called.

One call per question: the compose prompt (``prompts/compose.md``) states the rules once and the
numbered evidence once; no tool schemas. A tool-calling agent (langchain ``create_agent``) remains
only for what needs a model's judgement: searching again with other words when the first search
found nothing. The prompts live in ``settings.prompts_dir`` as files. Service failures become one
clear :class:`LLMError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import openai
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import BaseTool
from langgraph.errors import GraphRecursionError

from assistant.agent.citations import MARKER
from assistant.agent.conversations import Turn
from assistant.errors import ConfigurationError, LLMError
from assistant.settings import Settings
from assistant.tools.context import User

MAX_STEPS = 8  # model calls per question; a loop beyond this is cut off with a clear error


def chat_model(settings: Settings) -> BaseChatModel:
    """ChatOpenAI against the configured endpoint (local servers need no key: a placeholder is sent)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key.get_secret_value() or "not-needed",
        temperature=settings.llm_temperature,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        max_tokens=settings.llm_max_tokens,
    )


def load_prompt(settings: Settings, name: str) -> str:
    path = settings.prompts_dir / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(f"找不到提示词文件 {path}（LINKAGE_PROMPTS_DIR）") from exc


def _fill(text: str, user: User, project_id: str | None, today: date | None) -> str:
    groups = "全部（本地管理员）" if user.groups is None else ("、".join(user.groups) or "无")
    project = (
        f"本次对话关注的项目：{project_id}。用户说“它”“这个项目”“该项目”时指的就是它。"
        if project_id
        else "本次对话还没有涉及具体项目。"
    )
    values = {"user": user.name, "groups": groups, "today": (today or date.today()).isoformat(), "project_context": project}
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def system_prompt(settings: Settings, user: User, project_id: str | None, today: date | None = None) -> str:
    """prompts/system.md + prompts/answer_rules.md, for the tool-calling agent (second search)."""
    return _fill(load_prompt(settings, "system.md"), user, project_id, today) + "\n\n" + load_prompt(settings, "answer_rules.md")


def compose_messages(
    settings: Settings, user: User, project_id: str | None, question: str, evidence: str, history: list[BaseMessage]
) -> list[BaseMessage]:
    """The one prompt of a knowledge answer: rules, earlier turns, the numbered evidence, the question."""
    system = _fill(load_prompt(settings, "compose.md"), user, project_id, None)
    return [SystemMessage(system), *history, HumanMessage(f"资料：\n{evidence}\n\n问题：{question}")]


class Reply:
    """What the model wrote, and how it ended: ``cut_off`` when it stopped at the token limit or
    the stream broke off after it had started."""

    def __init__(self, text: str, cut_off: bool = False, prompt_chars: int = 0):
        self.text = text
        self.cut_off = cut_off
        self.prompt_chars = prompt_chars


def write(settings: Settings, model: BaseChatModel, messages: list[BaseMessage]) -> Reply:
    """One model call, streamed internally; a stream that breaks after it began is a cut-off reply."""
    parts: list[str] = []
    finish = None
    prompt_chars = sum(len(m.text) for m in messages)
    try:
        with service_errors(settings):
            for chunk in model.stream(messages):
                parts.append(chunk.text)
                finish = chunk.response_metadata.get("finish_reason") or finish
    except LLMError:
        if not "".join(parts).strip():
            raise
        return Reply("".join(parts), cut_off=True, prompt_chars=prompt_chars)
    return Reply("".join(parts), cut_off=finish in ("length", "max_tokens"), prompt_chars=prompt_chars)


def paragraph_polisher(settings: Settings, model: BaseChatModel) -> Callable[[str], str]:
    """A function that asks the model to rewrite one draft paragraph (prompts/polish.md).

    What comes back is only a candidate: ``drafting.polish_document`` keeps it only if it invents
    no facts and keeps every placeholder.
    """
    instructions = load_prompt(settings, "polish.md")

    def polish(paragraph: str) -> str:
        with service_errors(settings):
            reply = model.invoke([SystemMessage(instructions), HumanMessage(paragraph)])
        return reply.content if isinstance(reply.content, str) else ""

    return polish


def history_messages(turns: list[Turn]) -> list[BaseMessage]:
    """Earlier turns as chat messages; their [n] markers point at old sources, so they are removed."""
    messages: list[BaseMessage] = []
    for turn in turns:
        messages.append(HumanMessage(turn.question))
        messages.append(AIMessage(MARKER.sub("", turn.answer)))
    return messages


@contextmanager
def service_errors(settings: Settings) -> Iterator[None]:
    """Turn what the model service raises into one clear message."""
    where = settings.llm_base_url or "（自定义模型）"
    try:
        yield
    except openai.APITimeoutError as exc:
        raise LLMError(
            f"大模型服务响应超时（超过 {settings.llm_timeout:g} 秒，已重试 {settings.llm_max_retries} 次）：{where}。"
            "请稍后再试，或调大 LINKAGE_LLM_TIMEOUT。"
        ) from exc
    except openai.APIConnectionError as exc:
        raise LLMError(f"无法连接大模型服务 {where}，请检查 LINKAGE_LLM_BASE_URL 和网络。") from exc
    except openai.AuthenticationError as exc:
        raise LLMError("大模型服务拒绝了 API 密钥，请检查 LINKAGE_LLM_API_KEY。") from exc
    except openai.RateLimitError as exc:
        raise LLMError("大模型服务请求过于频繁（429），请稍后再试。") from exc
    except openai.APIStatusError as exc:
        raise LLMError(f"大模型服务返回错误 {exc.status_code}：{_short(exc.message)}") from exc
    except openai.OpenAIError as exc:
        raise LLMError(f"大模型服务出错：{_short(str(exc))}") from exc
    except GraphRecursionError as exc:
        raise LLMError(f"模型连续调用工具超过 {MAX_STEPS} 次仍未给出回答，请换个更具体的问法。") from exc


def _short(text: str) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= 200 else text[:200] + "…"


class ToolAgent:
    """One question's agent: the model, the user's tools and the system prompt."""

    def __init__(self, settings: Settings, model: BaseChatModel, tools: list[BaseTool], system: str):
        self.settings = settings
        self.graph = create_agent(model, tools, system_prompt=system)
        self.config = {"recursion_limit": 2 * MAX_STEPS + 1}

    def run(self, messages: list[BaseMessage]) -> str:
        """The final answer text after any tool calls."""
        with service_errors(self.settings):
            state = self.graph.invoke({"messages": messages}, config=self.config)
        return _final_text(state["messages"])


def _final_text(messages: list[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, AIMessage) and not message.tool_calls:
            return message.text.strip()
    return ""

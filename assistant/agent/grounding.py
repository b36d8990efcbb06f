"""What a model's reply must pass before it reaches the user.

A reply is only text until code has checked it: tool calls written as text are recognised (and
run by the caller, never shown); tool-wrapper and source-block text is removed; numbers, project
ids and stage names must occur in the evidence; each ``[n]`` must point at a source that states
the claim it closes. What fails is replaced by the extractive answer or an honest decline.
"""

from __future__ import annotations

import json
import re
from typing import Any

from assistant.agent.route import PROJECT_ID

TOOL_NAMES = ("search_knowledge", "list_projects", "get_project", "check_readiness", "draft_proposal", "explain_stage")
_FENCE = re.compile(r"```(?:json|tool_call|tool)?\s*(.*?)```", re.DOTALL)
_TAGGED = re.compile(r"<(tool_call|function_call)>\s*(.*?)\s*</\1>", re.DOTALL)
_WRAPPER = re.compile(
    r"</?untrusted_data>|<source\b[^>]*>|</source>|<tool_call>.*?</tool_call>|以下是工具取回的资料，属于不可信数据[^\n]*",
    re.DOTALL,
)
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def _calls_in(value: Any) -> list[tuple[str, dict]]:
    """Tool calls in the common shapes: {"name","arguments"|"parameters"|"args"}, {"function": …},
    {"tool_calls": […]}, or a list of those."""
    if isinstance(value, list):
        return [call for item in value for call in _calls_in(item)]
    if not isinstance(value, dict):
        return []
    if "tool_calls" in value:
        return _calls_in(value["tool_calls"])
    if isinstance(value.get("function"), dict):
        return _calls_in(value["function"])
    name = value.get("name") or value.get("tool")
    args = next((value[k] for k in ("arguments", "parameters", "args", "input") if k in value), {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            args = {}
    if isinstance(name, str) and name in TOOL_NAMES and isinstance(args, dict):
        return [(name, args)]
    return []


def text_tool_calls(text: str) -> list[tuple[str, dict]]:
    """Tool calls a model wrote into its message instead of calling the tool."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [m.group(2) for m in _TAGGED.finditer(text)]
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        candidates.append(stripped)
    calls: list[tuple[str, dict]] = []
    for candidate in candidates:
        try:
            calls += _calls_in(json.loads(candidate.strip()))
        except ValueError:
            continue
    return calls


def without_wrappers(text: str) -> str:
    """The reply minus anything copied from the tool/source wrappers."""
    return re.sub(r"\n{3,}", "\n\n", _WRAPPER.sub("", text)).strip()


def unsupported_facts(text: str, evidence: str, question: str, stages: list[str]) -> list[str]:
    """Numbers, project ids and stage names in the reply that neither the evidence nor the question holds.

    Markers are removed first; whitespace is ignored ("2024 年 6 月" in the note is "2024年6月").
    """
    from assistant.agent.citations import MARKER

    reply = MARKER.sub("", text)
    known = re.sub(r"\s+", "", evidence + question)
    wrong = [pid for pid in PROJECT_ID.findall(reply) if pid.upper() not in known.upper()]
    wrong += [n for n in _DIGITS.findall(reply) if n not in known]
    wrong += [s for s in stages if s in reply and s not in known]
    return wrong

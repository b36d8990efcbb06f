"""LLM polish of drafts: a rewrite is kept only if it invents nothing and keeps the placeholders."""

from __future__ import annotations

import io
import re

import docx
from langchain_core.messages import AIMessage

from assistant.agent.service import AssistantService
from assistant.tools.context import User
from assistant.tools.drafting import Document, Para, draft_proposal, polish_document
from assistant.tools.records import get_project
from tests.agent_support import ScriptedChatModel


def _paragraphs(draft) -> list[str]:
    return [p.text for p in docx.Document(io.BytesIO(draft.content)).paragraphs]


def test_a_faithful_rewrite_is_kept(admin_ctx):
    polished = draft_proposal(admin_ctx, "P-2025-001", polish=lambda text: "（已润色）" + text)
    assert polished.polished > 0 and polished.rejected == []
    assert sum("（已润色）" in p for p in _paragraphs(polished)) == polished.polished
    sparse = draft_proposal(admin_ctx, "P-2025-007")
    sparse_polished = draft_proposal(admin_ctx, "P-2025-007", polish=lambda text: "（已润色）" + text)
    assert sparse_polished.missing == sparse.missing  # placeholders survive the rewrite
    assert sparse_polished.text.count("【待补充") == sparse.text.count("【待补充")


def test_rewrites_that_invent_facts_or_drop_placeholders_are_dropped(admin_ctx):
    def inventive(text: str) -> str:
        return text + "本项目已获授权专利 CN202499999999.9，预算 999 万元，2031年12月完成。"

    plain = draft_proposal(admin_ctx, "P-2025-001")
    draft = draft_proposal(admin_ctx, "P-2025-001", polish=inventive)
    assert draft.polished == 0
    assert {"CN202499999999.9", "999 万元"} <= set(draft.rejected)
    assert draft.text == plain.text

    def forgetful(text: str) -> str:
        return text.split("【")[0] or "内容已省略。"

    record = get_project(admin_ctx, "P-2025-007")
    mixed = "本项目拟围绕变量喷洒控制开展专利培育工作，预算情况为【待补充：项目总预算及科目】，请项目组确认。"
    doc = Document(title="t", front=[], disclaimer="", body=[Para(mixed), Para("植保无人机变量喷洒控制技术的研发与专利布局方案说明。")])
    polished, rejected = polish_document(doc, record, forgetful)
    assert doc.body[0].text == mixed  # the rewrite lost the placeholder: original kept
    assert polished == 1 and rejected == []


def test_service_polishes_with_the_configured_chat_model_in_llm_mode(shipped_settings, shipped_index):
    model = ScriptedChatModel(replies=[AIMessage(content="经编辑的段落。") for _ in range(200)])
    service = AssistantService(shipped_settings, index=shipped_index, chat_model=model)
    draft = service.draft_proposal(User.local_admin(), "P-2025-001")
    assert service.mode == "llm"
    assert model.received, "the chat model was never asked to polish"
    instructions = model.received[0][0].content
    assert "不得新增或改动专利号" in instructions  # prompts/polish.md reached the model
    sent = [messages[1].content for messages in model.received]
    assert all(len(re.sub(r"【待(?:补充|核对)：[^】]*】", "", text)) >= 20 for text in sent)  # no bare placeholders
    kept = [text for text in sent if "【" not in text]  # the scripted rewrite drops placeholders
    assert draft.polished == len(kept) > 0
    assert sum("经编辑的段落。" in p for p in _paragraphs(draft)) == len(kept)


def test_offline_mode_does_not_polish(shipped_settings, shipped_index):
    service = AssistantService(shipped_settings, index=shipped_index)
    assert service.mode == "offline"
    assert service.draft_proposal(User.local_admin(), "P-2025-001").polished == 0

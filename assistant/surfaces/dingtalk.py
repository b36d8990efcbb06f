"""DingTalk bot: stream mode (`linkage dingtalk`, official SDK) and the outgoing-robot HTTP callback.

Both paths share one `ChatbotHandler`: it answers in Markdown with numbered citations through the
message's session webhook (or, with ``dingtalk_ai_card``, streams into an AI card). Slow work runs
in a worker thread (`asyncio.to_thread` in stream mode, a background task for the callback).
In group chats it answers only when @-mentioned; the asker's groups (``dingtalk_staff_groups``)
are narrowed to those the group chat is mapped to (``dingtalk_conversation_groups``), because
everyone in the chat reads the answer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time

from dingtalk_stream import AckMessage, ChatbotHandler, ChatbotMessage, Credential, DingTalkStreamClient
from dingtalk_stream.frames import CallbackMessage
from fastapi import BackgroundTasks, FastAPI, HTTPException, Request

from assistant.agent.models import Answer
from assistant.agent.service import AssistantService
from assistant.errors import ConfigurationError, LinkageError
from assistant.settings import Settings
from assistant.tools.context import User

log = logging.getLogger("assistant.dingtalk")

TITLE = "联动助手"
HELP = "请直接输入问题，例如：**标准必要专利的许可声明有哪些要求？** 回答会附上所依据的条款。"
NO_SOURCES = "> ⚠️ 没有找到可引用的条款依据，以下回答未经原文核实，请谨慎参考。"
FAILED = "抱歉，处理这个问题时出错了，请稍后再试；若问题持续，请联系管理员。"
MAX_AGE_MS = 3600 * 1000  # DingTalk: a signed request older than an hour is refused
MAX_SKEW_MS = 60 * 1000  # and one from more than a minute in the future


def sign(timestamp: str, secret: str) -> str:
    """base64(HMAC-SHA256(key=secret, "{timestamp}\\n{secret}")), as DingTalk computes it."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(timestamp: str | None, signature: str | None, secret: str, now_ms: int | None = None) -> bool:
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    age = now_ms - int(timestamp)
    if age > MAX_AGE_MS or age < -MAX_SKEW_MS:
        return False
    return hmac.compare_digest(sign(timestamp, secret), signature)


def dingtalk_user(settings: Settings, message: ChatbotMessage) -> User:
    staff = message.sender_staff_id or ""
    groups = list(settings.dingtalk_staff_groups.get(staff, []))
    if message.conversation_type == "2":
        allowed = settings.dingtalk_conversation_groups.get(message.conversation_id or "", [])
        groups = [g for g in groups if g in allowed]
    return User(name=f"dingtalk:{staff}", groups=groups)  # never senderId: a callback body can claim any


def dingtalk_conversation(message: ChatbotMessage) -> str | None:
    """One conversation per chat and staff member; a sender without staffId gets no memory at all."""
    staff = message.sender_staff_id or ""
    return f"dingtalk-{message.conversation_id}-{staff}" if staff else None


def answer_markdown(answer: Answer) -> str:
    """The answer followed by numbered sources (standard, clause, start of the quote)."""
    parts = [answer.answer.strip()]
    if answer.citations:
        lines = []
        for c in answer.citations:
            where = c.label or c.title  # the shared citation format, which marks our summaries
            quote = c.quote if len(c.quote) <= 60 else c.quote[:60] + "…"
            lines.append(f"- [{c.n}] {where}" + (f"：{quote}" if quote else ""))
        parts.append("**来源**\n\n" + "\n".join(lines))
    else:
        parts.append(NO_SOURCES)
    return "\n\n".join(parts)


class LinkageChatbotHandler(ChatbotHandler):
    """Answers one DingTalk message; used by the stream client and by the HTTP callback."""

    def __init__(self, settings: Settings, service: AssistantService):
        super().__init__()
        self.settings = settings
        self.service = service

    async def process(self, callback: CallbackMessage):
        await asyncio.to_thread(self.answer, ChatbotMessage.from_dict(callback.data))
        return AckMessage.STATUS_OK, "OK"

    def answer(self, message: ChatbotMessage) -> None:
        if message.conversation_type == "2" and not message.is_in_at_list:
            return
        question = "\n".join(message.get_text_list() or []).strip()
        if not question:
            self.reply_markdown(TITLE, HELP, message)
            return
        user = dingtalk_user(self.settings, message)
        conversation = dingtalk_conversation(message)
        try:
            if self.settings.dingtalk_ai_card and self.dingtalk_client is not None:
                self._answer_in_card(question, user, conversation, message)
            else:
                answer = self.service.ask(question, user, conversation)
                self.reply_markdown(TITLE, answer_markdown(answer), message)
        except LinkageError as exc:
            self.reply_markdown(TITLE, str(exc), message)
        except Exception:
            log.exception("DingTalk answer failed")
            self.reply_markdown(TITLE, FAILED, message)

    def _answer_in_card(self, question: str, user: User, conversation: str | None, message: ChatbotMessage) -> None:
        """Stream tokens into an AI card; if the app may not create cards, fall back to Markdown."""
        card = self.ai_markdown_card_start(message, title=TITLE)
        text, last = "", 0.0
        for event in self.service.ask_stream(question, user, conversation):
            if event.type == "token" and event.text and card.card_instance_id:
                text += event.text
                if time.monotonic() - last > 0.5:
                    card.ai_streaming(markdown=text, append=False)
                    last = time.monotonic()
            elif event.type == "final" and event.answer:
                if card.card_instance_id:
                    card.ai_finish(markdown=answer_markdown(event.answer))
                else:
                    self.reply_markdown(TITLE, answer_markdown(event.answer), message)
            elif event.type == "error":
                if card.card_instance_id:
                    card.ai_fail()
                self.reply_markdown(TITLE, event.text or FAILED, message)


def mount_dingtalk(app: FastAPI, settings: Settings, service: AssistantService) -> None:
    """`/dingtalk/callback` for an outgoing robot: check the signature, answer via the session webhook."""
    handler = LinkageChatbotHandler(settings, service)
    secret = settings.dingtalk_robot_secret.get_secret_value()

    @app.post("/dingtalk/callback", include_in_schema=False)
    async def dingtalk_callback(request: Request, background: BackgroundTasks) -> dict:
        if not verify(request.headers.get("timestamp"), request.headers.get("sign"), secret):
            raise HTTPException(401, "钉钉签名无效或已过期。")
        try:
            payload = json.loads(await request.body())
            message = ChatbotMessage.from_dict(payload)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise HTTPException(422, "无法解析钉钉消息。") from None
        if not message.session_webhook:
            raise HTTPException(422, "钉钉消息缺少 sessionWebhook。")
        background.add_task(handler.answer, message)
        return {}


def run_stream_mode(settings: Settings, service: AssistantService) -> None:
    """`linkage dingtalk`: hold a stream connection to DingTalk (no public URL needed)."""
    secret = settings.dingtalk_client_secret.get_secret_value()
    if not settings.dingtalk_client_id or not secret:
        raise ConfigurationError(
            "缺少钉钉应用凭证：请设置 LINKAGE_DINGTALK_CLIENT_ID 和 LINKAGE_DINGTALK_CLIENT_SECRET（应用的 Client ID / Client Secret）"
        )
    client = DingTalkStreamClient(Credential(settings.dingtalk_client_id, secret))
    client.register_callback_handler(ChatbotMessage.TOPIC, LinkageChatbotHandler(settings, service))
    client.start_forever()

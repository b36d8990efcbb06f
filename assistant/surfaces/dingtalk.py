"""DingTalk bot: stream mode (`linkage dingtalk`, official SDK) and the outgoing-robot HTTP callback.

Both paths share one `ChatbotHandler`: it answers in Markdown with numbered citations through the
message's session webhook (or, with ``dingtalk_ai_card``, streams into an AI card). Slow work runs
in a worker thread (`asyncio.to_thread` in stream mode; for the callback a small pool of its own, so
a webhook that never answers cannot take the threads the HTTP routes need), and every reply is
posted with a timeout (``dingtalk_reply_timeout``, also given to the SDK's own AI-card and token
calls), only to a webhook on DingTalk's own origins that has not yet expired.
The callback's signature covers the timestamp, not the body, so each signature is accepted once:
the used pairs are kept in the service's database, which the replicas of a deployment share.
The asker is known only by their staffId; a message without one is not answered.
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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import dingtalk_stream
import httpx
import requests
from dingtalk_stream import AckMessage, ChatbotHandler, ChatbotMessage, Credential, DingTalkStreamClient
from dingtalk_stream.frames import CallbackMessage
from fastapi import FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool

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
UNKNOWN_SENDER = "无法确认提问人的身份（消息缺少 staffId）：联动助手只回答本企业成员的提问。"
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


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL without user info; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def webhook_allowed(url: str | None, expires_ms: int | None, origins: list[str], now_ms: int | None = None) -> bool:
    """A session webhook we may post to: on one of ``origins`` and not past its expiry time."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    origin = _origin(url or "")
    return origin is not None and expires_ms is not None and expires_ms > now_ms and origin in {_origin(o) for o in origins}


def refusal(message: ChatbotMessage, settings: Settings) -> str | None:
    """Why a callback message must not be answered, or None."""
    if not webhook_allowed(message.session_webhook, message.session_webhook_expired_time, settings.dingtalk_webhook_origins):
        return "钉钉消息的 sessionWebhook 不是钉钉的地址、缺少有效期或已过期。"
    if not message.sender_staff_id:
        return "钉钉消息缺少 senderStaffId：只回答本企业成员的提问。"
    return None


def dingtalk_user(settings: Settings, message: ChatbotMessage) -> User:
    """The asker by staffId only (a senderId could equal someone's staffId); narrowed in group chats."""
    staff = message.sender_staff_id
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


class _TimedRequests:
    """``requests`` as the DingTalk SDK calls it (AI cards, access tokens, the stream connection),
    with our timeout where a call gives none: the SDK gives none, so a silent server would hold the
    answering thread for ever."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __getattr__(self, name: str):
        attribute = getattr(requests, name)
        if name not in ("get", "post", "put", "delete", "request"):
            return attribute
        return lambda *args, **kwargs: attribute(*args, **{"timeout": self.seconds, **kwargs})


def give_the_sdk_a_timeout(seconds: float) -> None:
    for module in (dingtalk_stream.card_replier, dingtalk_stream.chatbot, dingtalk_stream.stream):
        module.requests = _TimedRequests(seconds)


class LinkageChatbotHandler(ChatbotHandler):
    """Answers one DingTalk message; used by the stream client and by the HTTP callback."""

    def __init__(self, settings: Settings, service: AssistantService):
        super().__init__()
        self.settings = settings
        self.service = service
        self.http = httpx.Client(timeout=settings.dingtalk_reply_timeout)
        give_the_sdk_a_timeout(settings.dingtalk_reply_timeout)

    async def process(self, callback: CallbackMessage):
        await asyncio.to_thread(self.answer, ChatbotMessage.from_dict(callback.data))
        return AckMessage.STATUS_OK, "OK"

    def answer(self, message: ChatbotMessage) -> None:
        if message.conversation_type == "2" and not message.is_in_at_list:
            return
        if not message.sender_staff_id:
            self.reply_markdown(TITLE, UNKNOWN_SENDER, message)
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

    def reply_markdown(self, title: str, text: str, incoming_message: ChatbotMessage) -> dict | None:
        """Post to the session webhook with a timeout; refuse webhooks off DingTalk's origins or expired."""
        message = incoming_message
        if not webhook_allowed(message.session_webhook, message.session_webhook_expired_time,
                               self.settings.dingtalk_webhook_origins):
            log.warning("DingTalk reply not sent: the sessionWebhook is not on an allowed origin or has expired")
            return None
        body = {"msgtype": "markdown", "markdown": {"title": title, "text": text},
                "at": {"atUserIds": [message.sender_staff_id]}}
        try:
            response = self.http.post(message.session_webhook, json=body)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("DingTalk reply failed: %s", type(exc).__name__)
            return None

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


class CallbackAnswerer:
    """Answers accepted callbacks on a bounded pool of its own threads, never the request threadpool."""

    def __init__(self, settings: Settings, service: AssistantService):
        self.handler = LinkageChatbotHandler(settings, service)
        self.pool = ThreadPoolExecutor(max_workers=settings.dingtalk_reply_workers, thread_name_prefix="dingtalk")
        self.slots = threading.BoundedSemaphore(settings.dingtalk_max_pending)

    def submit(self, message: ChatbotMessage) -> bool:
        """Queue the answer; False when ``dingtalk_max_pending`` answers are already waiting."""
        if not self.slots.acquire(blocking=False):
            return False
        self.pool.submit(self.handler.answer, message).add_done_callback(lambda _: self.slots.release())
        return True

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def mount_dingtalk(app: FastAPI, settings: Settings, service: AssistantService) -> None:
    """`/dingtalk/callback` for an outgoing robot: check the signature once, answer via the session webhook."""
    answerer = CallbackAnswerer(settings, service)
    app.state.dingtalk = answerer
    secret = settings.dingtalk_robot_secret.get_secret_value()

    @app.post("/dingtalk/callback", include_in_schema=False)
    async def dingtalk_callback(request: Request) -> dict:
        timestamp, signature = request.headers.get("timestamp"), request.headers.get("sign")
        now_ms = int(time.time() * 1000)
        if not verify(timestamp, signature, secret, now_ms):
            raise HTTPException(401, "钉钉签名无效或已过期。")
        if not await run_in_threadpool(service.store.first_use, int(timestamp), signature, int(timestamp) + MAX_AGE_MS, now_ms):
            raise HTTPException(401, "钉钉签名已被使用过（疑似重放），已拒绝。")
        try:
            message = ChatbotMessage.from_dict(json.loads(await request.body()))
        except (ValueError, TypeError, KeyError, AttributeError):
            raise HTTPException(422, "无法解析钉钉消息。") from None
        reason = refusal(message, settings)
        if reason:
            raise HTTPException(422, reason)
        if not answerer.submit(message):
            raise HTTPException(503, "待回答的钉钉消息过多，请稍后再试。")
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

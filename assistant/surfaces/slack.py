"""Slack bot (slack-bolt): mentions and DMs answered in the thread, `/linkage` slash command.

Slack wants an acknowledgement within 3 seconds, so every listener only acks and the real work
runs as a bolt *lazy listener* in a worker thread (HTTP mode at `/slack/events` and Socket Mode
alike), never a request thread; every Web API call has a timeout (``slack_api_timeout``). Visibility follows the people who will read the answer: a DM uses the asker's groups
(``slack_user_groups``); in a channel the asker's groups are narrowed to those the channel is
mapped to (``slack_channel_groups``), and an unmapped channel gets public knowledge only.
"""

from __future__ import annotations

import json
import logging
import re
import time

from fastapi import FastAPI, Request, Response
from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from starlette.concurrency import run_in_threadpool

from assistant.agent.models import Answer, Citation
from assistant.agent.service import AssistantService
from assistant.errors import ConfigurationError, LinkageError, UnknownConversationError
from assistant.settings import Settings
from assistant.surfaces.problems import problem
from assistant.tools.context import User

log = logging.getLogger("assistant.slack")

HELP = (
    "*联动助手* 用法：\n"
    "• 在频道里 @联动助手 提问，或直接私信提问；回答会出现在消息串里，并附条款来源。\n"
    "• `/linkage check P-2025-001 [目标阶段]` 检查项目是否具备进入下一阶段的条件\n"
    "• `/linkage draft P-2025-001` 生成立项建议书草稿（.docx）并上传到当前会话\n"
    "• `/linkage help` 显示本说明"
)
NO_SOURCES = "⚠️ 没有找到可引用的条款依据，以下回答未经原文核实，请谨慎参考。"
BAD_SIGNATURE = "Slack 请求签名无效或已过期。"
FAILED = "抱歉，处理这个问题时出错了，请稍后再试；若问题持续，请联系管理员。"
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
_SECTION_LIMIT = 2900  # Block Kit section text is capped at 3000 characters


def slack_user(settings: Settings, team_id: str, user_id: str, channel_id: str, is_dm: bool) -> User:
    """The asker's groups, narrowed to the channel's when others will read the answer.

    The name, team + user id, is the identity the asker's conversations belong to."""
    groups = list(settings.slack_user_groups.get(user_id, []))
    if not is_dm:
        allowed = settings.slack_channel_groups.get(channel_id, [])
        groups = [g for g in groups if g in allowed]
    return User(name=f"slack:{team_id}:{user_id}", groups=groups)


def conversation_id(team_id: str, channel: str, thread_ts: str, user_id: str) -> str:
    """One conversation per Slack thread and asker, so the asker's earlier turns there are the context."""
    return f"slack-{team_id}-{channel}-{thread_ts}-{user_id}"


def _team(context: BoltContext) -> str:
    return context.team_id or context.enterprise_id or ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """The few Markdown forms answers use, in Slack's mrkdwn dialect."""
    text = _escape(markdown)
    text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    text = re.sub(r"^#{1,6}\s*(.+)$", r"*\1*", text, flags=re.MULTILINE)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r"<\2|\1>", text)


def _sections(text: str) -> list[dict]:
    parts, rest = [], text
    while rest:
        cut = rest.rfind("\n", 0, _SECTION_LIMIT) if len(rest) > _SECTION_LIMIT else len(rest)
        cut = cut if cut > 0 else _SECTION_LIMIT
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    return [{"type": "section", "text": {"type": "mrkdwn", "text": p}} for p in parts]


def citation_line(c: Citation) -> str:
    """``[n] GB/T 20003.1-2014（摘要） 许可声明`` with the start of the quoted text."""
    where = c.label or c.title  # the shared citation format, which marks our summaries
    quote = c.quote if len(c.quote) <= 80 else c.quote[:80] + "…"
    return f"*[{c.n}]* {_escape(where)}" + (f"\n      _{_escape(quote)}_" if quote else "")


def answer_blocks(answer: Answer, question: str) -> list[dict]:
    """The answer, a Sources block (or a warning when nothing was cited) and 👍/👎 buttons."""
    blocks = _sections(to_mrkdwn(answer.answer))
    if answer.citations:
        lines = "\n".join(citation_line(c) for c in answer.citations)
        blocks.append({"type": "section", "block_id": "sources",
                       "text": {"type": "mrkdwn", "text": ("*来源*\n" + lines)[:_SECTION_LIMIT]}})
    else:
        blocks.append({"type": "context", "block_id": "no_sources",
                       "elements": [{"type": "mrkdwn", "text": NO_SOURCES}]})
    value = json.dumps({"c": answer.conversation_id, "q": question[:1500]}, ensure_ascii=False)
    blocks.append({"type": "actions", "block_id": "feedback", "elements": [
        {"type": "button", "action_id": "feedback_up", "text": {"type": "plain_text", "text": "👍 有帮助"}, "value": value},
        {"type": "button", "action_id": "feedback_down", "text": {"type": "plain_text", "text": "👎 没帮助"}, "value": value},
    ]})
    return blocks


def readiness_text(report) -> str:
    marks = {"met": "✅", "partial": "🟡", "missing": "❌"}
    verdict = "已具备条件" if report.ready else "尚未具备条件"
    lines = [f"*{report.project_id}*：从「{report.current_stage}」进入「{report.target_stage}」{verdict}"]
    lines += [f"{marks.get(i.status, '•')} {_escape(i.requirement)} — {_escape(i.evidence)}" for i in report.items]
    if report.next_actions:
        lines.append("*下一步*")
        lines += [f"{n}. {_escape(a)}" for n, a in enumerate(report.next_actions, 1)]
    return "\n".join(lines)


def _ack(ack) -> None:
    ack()


def build_slack_app(settings: Settings, service: AssistantService, socket_mode: bool = False) -> App:
    """The bolt app; its Web API client uses ``settings.slack_api_url`` (a local mock in tests)."""
    require(settings, "slack_bot_token", "slack_app_token" if socket_mode else "slack_signing_secret")
    token = settings.slack_bot_token.get_secret_value()
    secret = settings.slack_signing_secret.get_secret_value()
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=settings.slack_api_timeout)
    app = App(
        client=client,
        signing_secret=secret or None,
        process_before_response=False,
        token_verification_enabled=False,  # no network call at startup; auth.test runs on first event
        request_verification_enabled=not socket_mode,
    )

    def reply(event: dict, client: WebClient, team_id: str, is_dm: bool) -> None:
        channel, ts = event["channel"], event["ts"]
        thread_ts = event.get("thread_ts") or ts
        question = _MENTION.sub("", event.get("text") or "").strip()
        if not question:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=HELP)
            return
        user = slack_user(settings, team_id, event.get("user", ""), channel, is_dm)
        _react(client, "reactions_add", channel, ts)
        try:
            answer = service.ask(question, user, conversation_id(team_id, channel, thread_ts, event.get("user", "")))
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=answer.answer,
                                    blocks=answer_blocks(answer, question), unfurl_links=False)
        except LinkageError as exc:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=str(exc))
        except Exception:
            log.exception("Slack answer failed")
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=FAILED)
        finally:
            _react(client, "reactions_remove", channel, ts)

    def answer_mention(event: dict, client: WebClient, context: BoltContext) -> None:
        reply(event, client, _team(context), is_dm=event.get("channel_type") == "im")

    def answer_dm(event: dict, client: WebClient, context: BoltContext) -> None:
        reply(event, client, _team(context), is_dm=True)

    def is_plain_dm(event: dict) -> bool:
        return event.get("channel_type") == "im" and not event.get("bot_id")

    def record_feedback(body: dict, action: dict, client: WebClient, context: BoltContext) -> None:
        value = json.loads(action["value"])
        rating = "up" if action["action_id"] == "feedback_up" else "down"
        channel = body.get("channel", {}).get("id", "")
        user_id = body.get("user", {}).get("id", "")
        user = slack_user(settings, _team(context), user_id, channel, is_dm=channel.startswith("D"))
        question, answer = value.get("q", ""), (body.get("message") or {}).get("text", "")
        asked = [t for t in service.store.history(value["c"], user.name, limit=50) if t.question == question]
        citations = asked[-1].citations if asked else []
        thread_ts = (body.get("message") or {}).get("thread_ts")
        try:
            service.record_feedback(user, value["c"], rating, "", question, answer, citations)
        except UnknownConversationError:  # a button under someone else's answer
            client.chat_postEphemeral(channel=channel, user=user_id, thread_ts=thread_ts, text="只能评价你自己提问得到的回答。")
            return
        client.chat_postEphemeral(channel=channel, user=user_id, thread_ts=thread_ts, text="感谢反馈！")

    def ack_command(ack, command: dict) -> None:
        words = (command.get("text") or "").split()
        if not words or words[0] not in ("check", "draft"):
            ack(text=HELP)
        elif len(words) < 2:
            ack(text=f"请给出项目编号，例如 `/linkage {words[0]} P-2025-001`。")
        else:
            ack(text="正在处理，请稍候…")

    def run_command(command: dict, respond, client: WebClient, context: BoltContext) -> None:
        words = (command.get("text") or "").split()
        if len(words) < 2 or words[0] not in ("check", "draft"):
            return  # help and usage errors were answered in the ack
        channel = command["channel_id"]
        is_dm = command.get("channel_name") == "directmessage" or channel.startswith("D")
        user = slack_user(settings, _team(context), command["user_id"], channel, is_dm)
        try:
            if words[0] == "check":
                report = service.check_readiness(user, words[1], words[2] if len(words) > 2 else None)
                respond(text=readiness_text(report), response_type="ephemeral")
                return
            draft = service.draft_proposal(user, words[1], fmt="docx")
            comment = f"{words[1]} 立项材料草稿（由联动助手根据项目记录生成）。"
            if draft.missing:
                comment += f"\n待补充 {len(draft.missing)} 处：" + "；".join(draft.missing[:10])
            client.files_upload_v2(channel=channel, content=draft.content, filename=draft.filename,
                                   title=draft.filename, initial_comment=comment)
        except LinkageError as exc:
            respond(text=str(exc), response_type="ephemeral")
        except Exception:
            log.exception("Slack command failed")
            respond(text=FAILED, response_type="ephemeral")

    app.event("app_mention")(ack=_ack, lazy=[answer_mention])
    app.event({"type": "message", "subtype": None}, matchers=[is_plain_dm])(ack=_ack, lazy=[answer_dm])
    app.action(re.compile(r"^feedback_(up|down)$"))(ack=_ack, lazy=[record_feedback])
    app.command("/linkage")(ack=ack_command, lazy=[run_command])
    return app


_WHAT = {
    "slack_bot_token": "机器人令牌 xoxb-…",
    "slack_signing_secret": "签名密钥 Signing Secret",
    "slack_app_token": "应用级令牌 xapp-…，需 connections:write",
}


def require(settings: Settings, *names: str) -> None:
    """One clear error naming every missing Slack secret."""
    missing = [n for n in names if not getattr(settings, n).get_secret_value()]
    if missing:
        listed = "、".join(f"LINKAGE_{n.upper()}（{_WHAT[n]}）" for n in missing)
        raise ConfigurationError(f"Slack 未配置完整：请设置 {listed}")


def _react(client: WebClient, method: str, channel: str, ts: str) -> None:
    """The 👀 "working on it" reaction is a courtesy: failing to set it must not stop the answer."""
    try:
        getattr(client, method)(channel=channel, timestamp=ts, name="eyes")
    except SlackApiError as exc:
        log.warning("Slack %s failed: %s", method, exc.response.get("error"))
    except OSError as exc:  # a timeout or a refused connection
        log.warning("Slack %s failed: %s", method, type(exc).__name__)


def mount_slack(app: FastAPI, settings: Settings, service: AssistantService) -> None:
    """`/slack/events`: bolt verifies the signature; dispatch (which may call auth.test) runs off the loop."""
    bolt = build_slack_app(settings, service)

    @app.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        if not _plausible_timestamp(request.headers.get("x-slack-request-timestamp")):
            return problem(401, BAD_SIGNATURE, request.url.path)  # slack-sdk would raise on int("abc")
        body = await request.body()
        response: BoltResponse = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        if response.status == 401:
            return problem(401, BAD_SIGNATURE, request.url.path)
        return to_starlette_response(response)


def _plausible_timestamp(value: str | None) -> bool:
    """Unix seconds within bolt's five-minute window; anything else is refused before bolt parses it."""
    if not value or len(value) > 12 or not (value.isascii() and value.isdigit()):
        return False
    return abs(time.time() - int(value)) <= 300


def run_socket_mode(settings: Settings, service: AssistantService) -> None:
    """`linkage slack`: connect out over a websocket (no public URL needed)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    bolt = build_slack_app(settings, service, socket_mode=True)
    SocketModeHandler(bolt, settings.slack_app_token.get_secret_value()).start()

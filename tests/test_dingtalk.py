"""DingTalk: the stream-mode handler with real SDK payloads, and the signed outgoing-robot callback.

Replies go to each message's ``sessionWebhook``; here that is a recording server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from dingtalk_stream import AckMessage, ChatbotMessage
from dingtalk_stream.frames import CallbackMessage
from fastapi.testclient import TestClient
from pydantic import SecretStr

from assistant.agent.service import AssistantService
from assistant.surfaces.api import create_app
from assistant.surfaces.dingtalk import LinkageChatbotHandler, sign, verify
from http_servers import recording_server

ROBOT_SECRET = "SEC-test-robot-secret"


@pytest.fixture(scope="module")
def webhook():
    with recording_server(lambda call: (200, {"errcode": 0, "errmsg": "ok"})) as server:
        yield server


@pytest.fixture(scope="module")
def ding_settings(shipped_settings):
    return shipped_settings.model_copy(update={
        "dingtalk_robot_secret": SecretStr(ROBOT_SECRET),
        "dingtalk_staff_groups": {"staff-std": ["标准化部"]},
        "dingtalk_conversation_groups": {"cid-std-group": ["标准化部"]},
    })


@pytest.fixture(scope="module")
def service(ding_settings, shipped_index):
    return AssistantService(ding_settings, index=shipped_index)


@pytest.fixture
def handler(ding_settings, service, webhook):
    webhook.calls.clear()
    return LinkageChatbotHandler(ding_settings, service)


def payload(text: str, webhook_url: str, group: bool = False, at_bot: bool = True, staff: str = "staff-std",
            conversation: str = "cid-private") -> dict:
    """A message as DingTalk delivers it (stream mode and outgoing robot share the shape)."""
    return {
        "conversationId": conversation, "chatbotCorpId": "ding-corp", "chatbotUserId": "$:LWCP_v1:$bot",
        "msgId": f"msg{time.monotonic_ns()}", "senderNick": "张三", "isAdmin": False, "senderStaffId": staff,
        "sessionWebhookExpiredTime": int(time.time() * 1000) + 3_600_000, "createAt": int(time.time() * 1000),
        "senderCorpId": "ding-corp", "conversationType": "2" if group else "1", "senderId": "$:LWCP_v1:$sender",
        "sessionWebhook": webhook_url + "/robot/send?session=abc", "robotCode": "ding-robot",
        "msgtype": "text", "text": {"content": f" {text}"}, "isInAtList": at_bot,
        **({"conversationTitle": "标准化工作群"} if group else {}),
    }


def deliver(handler, data: dict):
    """Run the handler on a stream-mode callback frame, as DingTalkStreamClient does."""
    frame = CallbackMessage.from_dict({
        "specVersion": "1.0", "type": "CALLBACK",
        "headers": {"topic": ChatbotMessage.TOPIC, "messageId": "frame-1", "contentType": "application/json"},
        "data": json.dumps(data, ensure_ascii=False),
    })
    return asyncio.run(handler.process(frame))


def markdown_replies(webhook) -> list[dict]:
    return [c.params for c in webhook.named("/robot/send")]


def test_private_chat_is_answered_in_markdown_with_numbered_citations(handler, webhook):
    status = deliver(handler, payload("标准必要专利的许可声明有哪些要求？", webhook.url))
    assert status == (AckMessage.STATUS_OK, "OK")
    [reply] = markdown_replies(webhook)
    assert reply["msgtype"] == "markdown" and reply["at"]["atUserIds"] == ["staff-std"]
    text = reply["markdown"]["text"]
    assert "**来源**" in text and "- [1] GB/T 20003.1-2014" in text and "[1]" in text.split("**来源**")[0]


def test_group_chat_needs_an_at_mention(handler, webhook):
    deliver(handler, payload("什么是专利导航？", webhook.url, group=True, at_bot=False, conversation="cid-std-group"))
    assert markdown_replies(webhook) == []
    deliver(handler, payload("什么是专利导航？", webhook.url, group=True, at_bot=True, conversation="cid-std-group"))
    assert len(markdown_replies(webhook)) == 1


def test_staff_ids_map_to_groups(handler, webhook):
    deliver(handler, payload("P-2025-001 的目标标准是什么？", webhook.url, staff="staff-std"))
    deliver(handler, payload("P-2025-001 的目标标准是什么？", webhook.url, staff="staff-unknown"))
    known, unknown = (r["markdown"]["text"] for r in markdown_replies(webhook))
    assert "5G基站智能节能技术联动创新项目" in known
    assert "未找到项目" in unknown and "5G基站" not in unknown


def test_group_chat_not_mapped_gets_public_knowledge_only(handler, webhook):
    deliver(handler, payload("P-2025-001 的目标标准是什么？", webhook.url, group=True, conversation="cid-other"))
    deliver(handler, payload("P-2025-001 的目标标准是什么？", webhook.url, group=True, conversation="cid-std-group"))
    unmapped, mapped = (r["markdown"]["text"] for r in markdown_replies(webhook))
    assert "未找到项目" in unmapped
    assert "5G基站智能节能技术联动创新项目" in mapped


def test_uncited_answer_carries_a_warning(handler, webhook):
    deliver(handler, payload("今天天气怎么样？", webhook.url))
    [reply] = markdown_replies(webhook)
    assert "没有找到可引用的条款依据" in reply["markdown"]["text"]


def test_signature_is_dingtalks_hmac():
    # expected: printf '1700000000000\nSECabc' | openssl dgst -sha256 -hmac SECabc -binary | base64
    assert sign("1700000000000", "SECabc") == "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM="
    now = 1_700_000_000_000
    assert verify("1700000000000", sign("1700000000000", "SECabc"), "SECabc", now_ms=now)
    assert not verify(str(now - 3_601_000), sign(str(now - 3_601_000), "SECabc"), "SECabc", now_ms=now)
    assert not verify(str(now + 61_000), sign(str(now + 61_000), "SECabc"), "SECabc", now_ms=now)
    assert not verify("1700000000000", sign("1700000000000", "other"), "SECabc", now_ms=now)


@pytest.fixture
def client(ding_settings, service, webhook):
    webhook.calls.clear()
    return TestClient(create_app(ding_settings, service))


def signed_headers(timestamp: int | None = None, secret: str = ROBOT_SECRET) -> dict[str, str]:
    ts = str(int(time.time() * 1000) if timestamp is None else timestamp)
    return {"timestamp": ts, "sign": sign(ts, secret)}


def test_callback_with_valid_signature_replies_through_the_session_webhook(client, webhook):
    body = payload("项目评估阶段需要准备哪些材料？", webhook.url)
    response = client.post("/dingtalk/callback", json=body, headers=signed_headers())
    assert response.status_code == 200
    [reply] = webhook.wait_for("/robot/send")
    assert "- [1] " in reply.params["markdown"]["text"]


@pytest.mark.parametrize("make_headers", [
    lambda: {},
    lambda: signed_headers(secret="wrong-secret"),
    lambda: signed_headers(timestamp=int(time.time() * 1000) - 2 * 3600 * 1000),
    lambda: signed_headers(timestamp=int(time.time() * 1000) + 5 * 60 * 1000),
], ids=["unsigned", "wrong-secret", "two-hours-old", "from-the-future"])
def test_callback_with_bad_signature_is_401_and_silent(client, webhook, make_headers):
    headers = make_headers()  # built when the test runs: a slow machine must not age "the future"
    response = client.post("/dingtalk/callback", json=payload("什么是专利导航？", webhook.url), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    time.sleep(0.5)
    assert webhook.calls == []

"""DingTalk: the stream-mode handler with real SDK payloads, and the signed outgoing-robot callback.

Replies go to each message's ``sessionWebhook``; here that is a recording server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx

import pytest
from dingtalk_stream import AckMessage, ChatbotMessage, Credential, DingTalkStreamClient, card_replier, stream
from dingtalk_stream.frames import CallbackMessage
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from assistant.agent.conversations import seen_signatures
from assistant.agent.service import AssistantService
from assistant.surfaces.api import create_app
from assistant.settings import Settings
from assistant.surfaces.dingtalk import LinkageChatbotHandler, sign, verify, webhook_allowed
from http_servers import recording_server, serve_app

ROBOT_SECRET = "SEC-test-robot-secret"


@pytest.fixture(scope="module")
def webhook():
    with recording_server(lambda call: (200, {"errcode": 0, "errmsg": "ok"})) as server:
        yield server


@pytest.fixture(scope="module")
def ding_settings(shipped_settings, webhook):
    return shipped_settings.model_copy(update={
        "dingtalk_robot_secret": SecretStr(ROBOT_SECRET),
        "dingtalk_staff_groups": {"staff-std": ["标准化部"]},
        "dingtalk_conversation_groups": {"cid-std-group": ["标准化部"]},
        "dingtalk_webhook_origins": [webhook.url],  # the loopback stand-in plays DingTalk's host
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


# --- attacks on the callback (issue 13): replays, foreign or expired webhooks, senders without staffId, hanging webhooks


def test_a_replayed_signature_is_refused_whatever_the_body(client, webhook):
    headers = signed_headers()
    first = client.post("/dingtalk/callback", json=payload("什么是专利导航？", webhook.url), headers=headers)
    assert first.status_code == 200
    webhook.wait_for("/robot/send")
    for staff in ("staff-std", "alice01", "staff-other"):
        replay = client.post("/dingtalk/callback", headers=headers,
                             json=payload("P-2025-001 的预算是多少？", webhook.url, staff=staff))
        assert replay.status_code == 401, staff
        assert replay.headers["content-type"] == "application/problem+json"
    time.sleep(0.5)
    assert len(webhook.named("/robot/send")) == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database(request, tmp_path) -> str:
    """One database two replicas share: a SQLite file, or the test PostgreSQL server (when given)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    return request.getfixturevalue("postgres_url")


def test_a_signature_used_on_one_replica_is_refused_on_another(ding_settings, shipped_index, webhook, shared_database):
    settings = ding_settings.model_copy(update={"database_url": SecretStr(shared_database)})
    first, second = (TestClient(create_app(settings, AssistantService(settings, index=shipped_index))) for _ in range(2))
    webhook.calls.clear()
    headers = signed_headers()
    assert first.post("/dingtalk/callback", json=payload("什么是专利导航？", webhook.url), headers=headers).status_code == 200
    replay = second.post("/dingtalk/callback", json=payload("P-2025-001 的预算是多少？", webhook.url, staff="alice01"), headers=headers)
    assert replay.status_code == 401 and "重放" in replay.json()["detail"]
    assert second.post("/dingtalk/callback", json=payload("什么是专利导航？", webhook.url), headers=signed_headers(int(headers["timestamp"]) - 1)).status_code == 200
    webhook.wait_for("/robot/send", count=2)
    time.sleep(0.5)
    assert len(webhook.named("/robot/send")) == 2


def test_used_signatures_are_forgotten_only_once_they_expire(ding_settings, tmp_path):
    store = AssistantService(ding_settings.model_copy(update={"database_url": SecretStr(f"sqlite:///{tmp_path / 'db.sqlite3'}")})).store
    now = 1_700_000_000_000
    assert store.first_use(now, "a", expires_ms=now + 10, now_ms=now)
    assert not store.first_use(now, "a", expires_ms=now + 10, now_ms=now + 10)  # still within its hour
    assert store.first_use(now, "b", expires_ms=now + 10, now_ms=now) and store.first_use(now + 5, "a", expires_ms=now + 15, now_ms=now)
    assert store.first_use(now + 20, "c", expires_ms=now + 30, now_ms=now + 11)  # the first two are past: deleted
    rows = store.database.run(lambda db: db.execute(select(seen_signatures.c.sign)).scalars().all())
    assert sorted(rows) == ["a", "c"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:1/robot/send?session=abc",  # loopback, but not the configured origin
    "https://oapi.dingtalk.com.evil.example/robot/sendBySession?session=abc",
    "https://oapi.dingtalk.com@evil.example/robot/sendBySession?session=abc",
    "http://oapi.dingtalk.com/robot/sendBySession?session=abc",  # the right host without TLS
    "file:///etc/passwd",
], ids=["other-port", "look-alike-host", "userinfo", "plain-http", "file"])
def test_a_session_webhook_off_dingtalks_hosts_is_refused(client, webhook, url):
    body = payload("P-2025-001 的预算是多少？", webhook.url)
    body["sessionWebhook"] = url
    response = client.post("/dingtalk/callback", json=body, headers=signed_headers())
    assert response.status_code == 422
    assert "sessionWebhook" in response.json()["detail"]


def test_dingtalks_own_hosts_are_the_default_webhook_origins():
    now = int(time.time() * 1000)
    origins = Settings(_env_file=None).dingtalk_webhook_origins
    for host in ("oapi.dingtalk.com", "api.dingtalk.com"):
        assert webhook_allowed(f"https://{host}/robot/sendBySession?session=x", now + 60_000, origins, now)
    assert not webhook_allowed("https://example.com/robot/sendBySession?session=x", now + 60_000, origins, now)


def test_an_expired_session_webhook_is_refused(client, webhook):
    body = payload("什么是专利导航？", webhook.url)
    body["sessionWebhookExpiredTime"] = int(time.time() * 1000) - 1000
    response = client.post("/dingtalk/callback", json=body, headers=signed_headers())
    assert response.status_code == 422
    del body["sessionWebhookExpiredTime"]
    assert client.post("/dingtalk/callback", json=body, headers=signed_headers(int(time.time() * 1000) - 1)).status_code == 422
    time.sleep(0.5)
    assert webhook.calls == []


def test_a_sender_is_known_only_by_staff_id(client, handler, webhook):
    """A senderId equal to someone's staffId must not borrow that person's groups or conversation."""
    body = payload("P-2025-001 的目标标准是什么？", webhook.url, staff="")
    body["senderId"] = "staff-std"
    del body["senderStaffId"]
    assert client.post("/dingtalk/callback", json=body, headers=signed_headers()).status_code == 422
    deliver(handler, body)
    [reply] = markdown_replies(webhook)
    assert "staffId" in reply["markdown"]["text"] and "5G基站" not in reply["markdown"]["text"]


@pytest.fixture
def hanging_webhook():
    """A session webhook that accepts the connection and never answers (until the test ends)."""
    release = threading.Event()
    with recording_server(lambda call: (release.wait(120), (200, {"errcode": 0}))[1]) as server:
        yield server
        release.set()


def test_webhooks_that_never_answer_do_not_hang_the_server(ding_settings, service, hanging_webhook):
    settings = ding_settings.model_copy(update={"dingtalk_webhook_origins": [hanging_webhook.url],
                                                "dingtalk_reply_timeout": 2.0})
    app = create_app(settings, service)
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        now = int(time.time() * 1000)
        for i in range(40):
            body = payload("什么是专利导航？", hanging_webhook.url, conversation=f"cid-hang-{i}")
            assert http.post("/dingtalk/callback", json=body, headers=signed_headers(now - i)).status_code == 200
        hanging_webhook.wait_for("/robot/send", timeout=60)  # replies are being posted and hang
        started = time.monotonic()
        response = http.get("/api/search", params={"q": "专利导航"}, timeout=20)
        assert response.status_code == 200 and response.json()["hits"]
        assert time.monotonic() - started < 10
        app.state.dingtalk.close()


def test_an_ai_card_service_that_never_answers_does_not_hold_the_answer(ding_settings, service, webhook, monkeypatch):
    """The SDK posts AI cards (and fetches tokens) with no timeout of its own; ours applies, and the
    answer still arrives as Markdown through the session webhook."""
    release = threading.Event()

    def respond(call):
        if call.path == "/v1.0/oauth2/accessToken":
            return 200, {"accessToken": "token", "expireIn": 7200}
        release.wait(60)
        return 200, {}

    with recording_server(respond) as openapi:
        try:
            for module in (card_replier, stream):
                monkeypatch.setattr(module, "DINGTALK_OPENAPI_ENDPOINT", openapi.url)
            settings = ding_settings.model_copy(update={"dingtalk_ai_card": True, "dingtalk_reply_timeout": 1.0})
            handler = LinkageChatbotHandler(settings, service)
            handler.dingtalk_client = DingTalkStreamClient(Credential("ding-app", "app-secret"))
            webhook.calls.clear()
            for n, question in enumerate(("什么是专利导航？", "许可声明有哪几种？"), 1):
                started = time.monotonic()
                assert deliver(handler, payload(question, webhook.url)) == (AckMessage.STATUS_OK, "OK")
                assert time.monotonic() - started < 15
                assert len(markdown_replies(webhook)) == n
            assert openapi.named("/v1.0/card/instances")  # a card was tried, and given up on
        finally:
            release.set()

"""Slack over HTTP: signed requests through the FastAPI app, replies captured by a mock Web API.

bolt verifies the signatures for real; the listeners ack and answer lazily in bolt's worker
threads, so each test waits until the mock Web API has recorded the call it expects.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import time
import zipfile
from urllib.parse import urlencode

import docx
import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from assistant.agent.service import AssistantService
from assistant.settings import PROJECT_ROOT
from assistant.surfaces.api import create_app
from assistant.surfaces.slack import conversation_id
from http_servers import recording_server

SECRET = "test-signing-secret"
BOT = "UBOT"


@pytest.fixture(scope="module")
def slack_api():
    """A stand-in for https://slack.com/api/ that records every call."""
    urls: dict[str, str] = {}

    def respond(call):
        if call.path.startswith(("/upload/", "/response/")):
            return 200, b"ok"
        method = call.path.removeprefix("/api/")
        replies = {
            "auth.test": {"ok": True, "user_id": BOT, "bot_id": "BBOT", "team_id": "T1", "user": "linkage"},
            "chat.postMessage": {"ok": True, "channel": call.params.get("channel"), "ts": "1700000099.000100"},
            "files.getUploadURLExternal": {"ok": True, "upload_url": urls["base"] + "/upload/F1", "file_id": "F1"},
            "files.completeUploadExternal": {"ok": True, "files": [{"id": "F1", "title": "draft"}]},
            "files.info": {"ok": True, "file": {"id": "F1"}},
        }
        return 200, replies.get(method, {"ok": True})

    with recording_server(respond) as server:
        urls["base"] = server.url
        yield server


@pytest.fixture(scope="module")
def slack_settings(shipped_settings, slack_api):
    return shipped_settings.model_copy(update={
        "slack_bot_token": SecretStr("xoxb-test"),
        "slack_signing_secret": SecretStr(SECRET),
        "slack_api_url": slack_api.url + "/api/",
        "slack_user_groups": {"UALICE": ["标准化部"]},
        "slack_channel_groups": {"CSTD": ["标准化部", "管理层"]},
    })


@pytest.fixture(scope="module")
def service(slack_settings, shipped_index):
    return AssistantService(slack_settings, index=shipped_index)


@pytest.fixture
def client(slack_settings, service, slack_api):
    slack_api.calls.clear()
    return TestClient(create_app(slack_settings, service))


def signed(body: str, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


_seq = iter(range(100, 10_000))


def new_ts() -> str:
    return f"1700000000.{next(_seq):06d}"


def send_event(client, event: dict, headers: dict | None = None):
    body = json.dumps({
        "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": f"Ev{next(_seq)}", "event_time": int(time.time()), "event": event,
        "authorizations": [{"team_id": "T1", "user_id": BOT, "is_bot": True}],
    }, ensure_ascii=False)
    return client.post("/slack/events", content=body.encode(),
                       headers={"Content-Type": "application/json", **(headers or signed(body))})


def mention(text: str, channel: str = "CSTD", user: str = "UALICE", thread_ts: str | None = None) -> dict:
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT}> {text}", "ts": new_ts(), "channel": channel}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def send_form(client, fields: dict):
    body = urlencode(fields)
    return client.post("/slack/events", content=body.encode(),
                       headers={"Content-Type": "application/x-www-form-urlencoded", **signed(body)})


def posted(slack_api, count: int = 1) -> list[dict]:
    """The chat.postMessage calls, once ``count`` of them have arrived and the 👀 was taken back."""
    calls = slack_api.wait_for("/api/chat.postMessage", count)
    slack_api.wait_for("/api/reactions.remove", count)
    return [c.params for c in calls]


def blocks_of(message: dict) -> list[dict]:
    blocks = message["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def block(message: dict, block_id: str) -> dict | None:
    return next((b for b in blocks_of(message) if b.get("block_id") == block_id), None)


def test_mention_is_answered_in_the_thread_with_sources_and_buttons(client, slack_api):
    event = mention("标准必要专利的许可声明有哪些要求？")
    started = time.monotonic()
    response = send_event(client, event)
    assert response.status_code == 200
    assert time.monotonic() - started < 3  # acked before the answer is worked out
    [message] = posted(slack_api)
    assert message["channel"] == "CSTD" and message["thread_ts"] == event["ts"]
    sources = block(message, "sources")["text"]["text"]
    assert sources.startswith("*来源*") and "*[1]* GB/T 20003.1-2014" in sources and "许可声明" in sources
    buttons = block(message, "feedback")["elements"]
    assert [b["action_id"] for b in buttons] == ["feedback_up", "feedback_down"]
    assert block(message, "no_sources") is None
    reactions = [c for c in slack_api.calls if c.path.startswith("/api/reactions.")]
    assert [c.path for c in reactions] == ["/api/reactions.add", "/api/reactions.remove"]
    assert reactions[0].params["name"] == "eyes" and reactions[0].params["timestamp"] == event["ts"]


def test_wrong_signature_gets_401_and_no_reply(client, slack_api):
    event = mention("什么是专利导航？")
    body = json.dumps({"type": "event_callback", "team_id": "T1", "event": event})
    response = send_event(client, event, headers=signed(body, secret="not-the-secret"))
    assert response.status_code == 401
    time.sleep(1.5)
    assert slack_api.calls == []


def test_stale_signature_gets_401_and_no_reply(client, slack_api):
    event = mention("什么是专利导航？")
    body = json.dumps({"type": "event_callback", "team_id": "T1", "event": event})
    response = client.post("/slack/events", content=body.encode(),
                           headers={"Content-Type": "application/json", **signed(body, int(time.time()) - 600)})
    assert response.status_code == 401
    time.sleep(1.5)
    assert slack_api.calls == []


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "-1", "9" * 400])
def test_malformed_timestamp_gets_401_problem_and_no_reply(client, slack_api, timestamp):
    event = mention("什么是专利导航？")
    body = json.dumps({"type": "event_callback", "team_id": "T1", "event": event})
    headers = {**signed(body), "X-Slack-Request-Timestamp": timestamp}
    response = client.post("/slack/events", content=body.encode(), headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in response.text and "int()" not in response.text
    time.sleep(0.5)
    assert slack_api.calls == []


def test_direct_message_is_answered_in_its_thread(client, slack_api):
    ts = new_ts()
    event = {"type": "message", "channel_type": "im", "channel": "DALICE", "user": "UALICE",
             "text": "项目评估阶段需要准备哪些材料？", "ts": ts}
    assert send_event(client, event).status_code == 200
    [message] = posted(slack_api)
    assert message["channel"] == "DALICE" and message["thread_ts"] == ts
    assert "*[1]*" in block(message, "sources")["text"]["text"]


def test_thread_history_is_the_conversation(client, slack_api, service):
    first = mention("P-2025-001 能进入立项吗？")
    send_event(client, first)
    posted(slack_api, 1)
    send_event(client, mention("它的目标标准是什么？", thread_ts=first["ts"]))
    _, follow_up = posted(slack_api, 2)
    assert follow_up["thread_ts"] == first["ts"]
    assert "P-2025-001" in block(follow_up, "sources")["text"]["text"]
    turns = service.store.history(conversation_id("T1", "CSTD", first["ts"], "UALICE"), "slack:T1:UALICE")
    assert [t.question for t in turns] == ["P-2025-001 能进入立项吗？", "它的目标标准是什么？"]


def test_unmapped_channel_gets_public_knowledge_only(client, slack_api):
    send_event(client, mention("P-2025-001 的目标标准是什么？", channel="CRANDOM"))
    [message] = posted(slack_api)
    assert "未找到项目" in message["text"]
    assert "5G基站" not in json.dumps(message, ensure_ascii=False)


def test_warning_when_nothing_could_be_cited(client, slack_api):
    send_event(client, mention("今天天气怎么样？"))
    [message] = posted(slack_api)
    assert block(message, "sources") is None
    assert "没有找到可引用的条款依据" in block(message, "no_sources")["elements"][0]["text"]


def test_feedback_button_is_stored_with_the_citations(client, slack_api, service):
    event = mention("什么是专利导航？")
    send_event(client, event)
    [message] = posted(slack_api)
    up = block(message, "feedback")["elements"][0]
    payload = {
        "type": "block_actions", "token": "legacy", "api_app_id": "A1", "trigger_id": "t1",
        "team": {"id": "T1"}, "user": {"id": "UALICE"}, "channel": {"id": "CSTD"},
        "container": {"type": "message", "channel_id": "CSTD", "message_ts": "1700000099.000100"},
        "message": {"type": "message", "text": message["text"], "ts": "1700000099.000100", "thread_ts": event["ts"]},
        "actions": [{"type": "button", "action_id": "feedback_up", "block_id": "feedback", "value": up["value"]}],
    }
    assert send_form(client, {"payload": json.dumps(payload, ensure_ascii=False)}).status_code == 200
    [thanks] = slack_api.wait_for("/api/chat.postEphemeral")
    assert thanks.params["user"] == "UALICE" and thanks.params["text"] == "感谢反馈！"
    [stored] = service.store.feedback(conversation_id("T1", "CSTD", event["ts"], "UALICE"))
    assert (stored["user"], stored["rating"], stored["question"]) == ("slack:T1:UALICE", "up", "什么是专利导航？")
    assert stored["answer"] == message["text"] and stored["citations"][0]["n"] == 1


def command(text: str, channel: str = "CSTD") -> dict:
    return {"token": "legacy", "team_id": "T1", "channel_id": channel, "channel_name": "standards",
            "user_id": "UALICE", "command": "/linkage", "text": text, "api_app_id": "A1",
            "response_url": "", "trigger_id": "t1"}


def test_slash_help_is_the_ack(client, slack_api):
    response = send_form(client, command("help"))
    assert response.status_code == 200 and "/linkage check" in response.text
    time.sleep(1)
    assert [c.path for c in slack_api.calls if c.path != "/api/auth.test"] == []


def test_slash_check_responds_with_the_checklist(client, slack_api):
    fields = command("check P-2025-001")
    fields["response_url"] = slack_api.url + "/response/check"
    response = send_form(client, fields)
    assert response.status_code == 200 and "正在处理" in response.text
    [reply] = slack_api.wait_for("/response/check")
    text = json.loads(reply.body)["text"]
    assert "P-2025-001" in text and "「立项」" in text and "✅" in text


def test_slash_check_in_unmapped_channel_hides_records(client, slack_api):
    fields = command("check P-2025-001", channel="CRANDOM")
    fields["response_url"] = slack_api.url + "/response/hidden"
    send_form(client, fields)
    [reply] = slack_api.wait_for("/response/hidden")
    assert "未找到项目" in json.loads(reply.body)["text"]


def test_slash_draft_uploads_the_docx(client, slack_api):
    fields = command("draft P-2025-001")
    fields["response_url"] = slack_api.url + "/response/draft"
    assert send_form(client, fields).status_code == 200
    [complete] = slack_api.wait_for("/api/files.completeUploadExternal")
    assert complete.params["channel_id"] == "CSTD"
    assert "P-2025-001" in complete.params["initial_comment"]
    [requested] = slack_api.named("/api/files.getUploadURLExternal")
    assert requested.params["filename"].startswith("P-2025-001") and requested.params["filename"].endswith(".docx")
    [upload] = slack_api.named("/upload/F1")
    assert zipfile.is_zipfile(io.BytesIO(upload.body))
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(upload.body)).paragraphs)
    assert "5G基站智能节能技术联动创新项目" in text


def test_manifest_matches_the_listeners():
    manifest = yaml.safe_load((PROJECT_ROOT / "deploy" / "slack-manifest.yaml").read_text(encoding="utf-8"))
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/linkage"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "files:write", "reactions:write", "commands", "im:history"} <= scopes
    assert manifest["settings"]["interactivity"]["is_enabled"]


def test_a_slack_api_that_never_answers_delays_an_answer_by_the_timeout_only(slack_settings, service):
    """Every Web API call has our timeout: a 👀 reaction that never returns is given up on, the
    answer is still posted, and the event itself was acknowledged at once."""
    import threading

    release = threading.Event()

    def respond(call):
        if call.path.startswith("/api/reactions."):
            release.wait(60)
        return 200, {"ok": True, "ts": "1700000099.000100"}

    with recording_server(respond) as silent:
        try:
            settings = slack_settings.model_copy(update={"slack_api_url": silent.url + "/api/", "slack_api_timeout": 1.0})
            client = TestClient(create_app(settings, service))
            started = time.monotonic()
            assert send_event(client, mention("什么是专利导航？")).status_code == 200
            assert time.monotonic() - started < 3
            [posted] = silent.wait_for("/api/chat.postMessage", timeout=15)
            assert "来源" in json.dumps(posted.params["blocks"], ensure_ascii=False)
        finally:
            release.set()

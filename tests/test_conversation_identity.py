"""A conversation belongs to a stable identity; nobody else may continue it (issue 13, item 4).

Identities: the API key's user, Slack team + user id, DingTalk staffId (never senderId or the
display name), the CLI's OS user + --as-groups. A conversation id presented by another identity
is refused (404 on HTTP, one line on the CLI) without saying whose it is.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from assistant.agent.service import AssistantService
from assistant.settings import ApiUser
from assistant.surfaces.api import create_app
from assistant.surfaces.dingtalk import LinkageChatbotHandler
from http_servers import recording_server
from test_dingtalk import deliver, markdown_replies, payload
from test_slack import SECRET, block, mention, posted, send_event, send_form

FOLLOW_UP = "那它还缺什么？"


def test_cli_group_sets_never_share_a_conversation(cli):
    first = cli("ask", "P-2025-002 能进入立项吗？", "--json", "--as-groups", "研发部")
    assert first.exit_code == 0, first.output
    conversation = json.loads(first.stdout)["conversation_id"]
    other = cli("ask", FOLLOW_UP, "--json", "--conversation", conversation, "--as-groups", "市场部")
    assert other.exit_code == 2 and "未找到对话" in other.stderr and "P-2025-002" not in other.output
    same = cli("ask", FOLLOW_UP, "--json", "--conversation", conversation, "--as-groups", "研发部")
    assert json.loads(same.stdout)["tool_calls"][0]["args"]["project_id"] == "P-2025-002"
    admin = cli("ask", FOLLOW_UP, "--json", "--conversation", conversation)  # the administrator is another identity
    assert admin.exit_code == 2 and "未找到对话" in admin.stderr


@pytest.fixture(scope="module")
def api(shipped_settings, shipped_index):
    settings = shipped_settings.model_copy(update={
        "api_keys": {"k-alice": ApiUser(user="alice", groups=["标准化部"]), "k-bob": ApiUser(user="bob", groups=["标准化部"])},
        "allow_anonymous": False,
    })
    return TestClient(create_app(settings, AssistantService(settings, index=shipped_index)))


def test_api_conversation_of_another_key_user_is_a_404_that_leaks_nothing(api):
    alice, bob = {"Authorization": "Bearer k-alice"}, {"Authorization": "Bearer k-bob"}
    first = api.post("/api/chat", json={"question": "P-2025-001 的预算是多少？"}, headers=alice).json()
    for body in ({"question": FOLLOW_UP, "conversation_id": first["conversation_id"]},
                 {"question": FOLLOW_UP, "conversation_id": first["conversation_id"], "stream": True}):
        refused = api.post("/api/chat", json=body, headers=bob)
        assert refused.status_code == 404 and refused.headers["content-type"] == "application/problem+json"
        said = refused.text.replace(first["conversation_id"], "")  # the id itself is random hex
        assert "alice" not in said and "380" not in said
    openai = api.post("/v1/chat/completions", headers=bob, json={
        "model": "linkage-assistant", "messages": [{"role": "user", "content": FOLLOW_UP}],
        "conversation_id": first["conversation_id"]})
    assert openai.status_code == 404 and "380" not in openai.text.replace(first["conversation_id"], "")
    feedback = api.post("/api/feedback", json={"rating": "down", "conversation_id": first["conversation_id"]}, headers=bob)
    assert feedback.status_code == 404
    own = api.post("/api/chat", json={"question": FOLLOW_UP, "conversation_id": first["conversation_id"]}, headers=alice)
    assert own.status_code == 200 and own.json()["tool_calls"][0]["args"]["project_id"] == "P-2025-001"


@pytest.fixture
def dingtalk(shipped_settings, shipped_index):
    with recording_server(lambda call: (200, {"errcode": 0})) as webhook:
        settings = shipped_settings.model_copy(update={"dingtalk_staff_groups": {"alice01": ["研发部"]},
                                                       "dingtalk_webhook_origins": [webhook.url]})
        yield LinkageChatbotHandler(settings, AssistantService(settings, index=shipped_index)), webhook


def test_dingtalk_sender_id_equal_to_a_staff_id_does_not_continue_that_conversation(dingtalk):
    handler, webhook = dingtalk
    deliver(handler, payload("P-2025-002 能进入立项吗？", webhook.url, staff="alice01"))
    spoofed = payload(FOLLOW_UP, webhook.url, staff="") | {"senderId": "alice01", "senderNick": "alice01"}
    spoofed.pop("senderStaffId")
    deliver(handler, spoofed)
    first, second = (r["markdown"]["text"] for r in markdown_replies(webhook))
    assert "P-2025-002" in first
    assert "P-2025-002" not in second and "未找到对话" not in second  # answered, without alice01's context


def test_dingtalk_group_members_each_have_their_own_conversation(dingtalk):
    handler, webhook = dingtalk
    deliver(handler, payload("P-2025-002 能进入立项吗？", webhook.url, staff="alice01", group=True, conversation="cid-g"))
    deliver(handler, payload(FOLLOW_UP, webhook.url, staff="bob02", group=True, conversation="cid-g"))
    deliver(handler, payload(FOLLOW_UP, webhook.url, staff="alice01", group=True, conversation="cid-g"))
    first, bob, alice = (r["markdown"]["text"] for r in markdown_replies(webhook))
    assert "未找到对话" not in bob and "P-2025-002" not in bob
    assert "P-2025-002" in alice


@pytest.fixture
def slack(shipped_settings, shipped_index):
    def respond(call):
        return 200, {"ok": True, "ts": "1700000099.000100", "user_id": "UBOT", "team_id": "T1"}

    with recording_server(respond) as slack_api:
        settings = shipped_settings.model_copy(update={
            "slack_bot_token": SecretStr("xoxb-test"), "slack_signing_secret": SecretStr(SECRET),
            "slack_api_url": slack_api.url + "/api/",
            "slack_user_groups": {"UALICE": ["研发部"], "UBOB": ["研发部"]}, "slack_channel_groups": {"CRD": ["研发部"]},
        })
        yield TestClient(create_app(settings, AssistantService(settings, index=shipped_index))), slack_api


def test_slack_thread_members_each_have_their_own_conversation(slack):
    client, slack_api = slack
    first = mention("P-2025-002 能进入立项吗？", channel="CRD", user="UALICE")
    send_event(client, first)
    posted(slack_api, 1)
    send_event(client, mention(FOLLOW_UP, channel="CRD", user="UBOB", thread_ts=first["ts"]))
    bob = posted(slack_api, 2)[-1]["text"]
    assert "未找到对话" not in bob and "P-2025-002" not in bob
    send_event(client, mention(FOLLOW_UP, channel="CRD", user="UALICE", thread_ts=first["ts"]))
    assert "P-2025-002" in posted(slack_api, 3)[-1]["text"]


def test_slack_feedback_on_someone_elses_answer_is_refused(slack):
    client, slack_api = slack
    asked = mention("什么是专利导航？", channel="CRD", user="UALICE")
    send_event(client, asked)
    message = posted(slack_api, 1)[-1]
    value = block(message, "feedback")["elements"][0]["value"]
    click = {
        "type": "block_actions", "token": "legacy", "api_app_id": "A1", "trigger_id": "t1",
        "team": {"id": "T1"}, "user": {"id": "UBOB"}, "channel": {"id": "CRD"},
        "container": {"type": "message", "channel_id": "CRD", "message_ts": "1700000099.000100"},
        "message": {"type": "message", "text": message["text"], "ts": "1700000099.000100", "thread_ts": asked["ts"]},
        "actions": [{"type": "button", "action_id": "feedback_up", "block_id": "feedback", "value": value}],
    }
    assert send_form(client, {"payload": json.dumps(click, ensure_ascii=False)}).status_code == 200
    [refused] = slack_api.wait_for("/api/chat.postEphemeral")
    assert refused.params["user"] == "UBOB" and "只能评价" in refused.params["text"]

"""The HTTP service over the shipped index: one test per outcome, group filtering, SSE, OpenAI client."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI
from pydantic import SecretStr

from assistant.agent.service import AssistantService
from assistant.errors import ConfigurationError
from assistant.settings import ApiUser, Settings
from assistant.surfaces.api import app_factory, check_serve_settings, create_app
from http_servers import serve_app

STD = {"Authorization": "Bearer k-std"}  # 标准化部: sees P-2025-001/003/005/006, not 002
ADMIN = {"Authorization": "Bearer k-admin"}
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api_settings(shipped_settings) -> Settings:
    return shipped_settings.model_copy(update={
        "api_keys": {
            "k-std": ApiUser(user="alice", groups=["标准化部"]),
            "k-admin": ApiUser(user="root", groups=["标准化部"], admin=True),
        },
        "allow_anonymous": True,
        "max_request_bytes": 4000,
    })


@pytest.fixture(scope="module")
def service(api_settings, shipped_index) -> AssistantService:
    return AssistantService(api_settings, index=shipped_index)


@pytest.fixture(scope="module")
def client(api_settings, service) -> TestClient:
    return TestClient(create_app(api_settings, service))


def test_chat_answers_with_citations(client):
    response = client.post("/api/chat", json={"question": "标准必要专利的许可声明有哪些要求？"})
    assert response.status_code == 200
    answer = response.json()
    assert answer["citations"] and answer["conversation_id"]
    assert any(c["standard"] == "GB/T 20003.1-2014" for c in answer["citations"])
    assert "[1]" in answer["answer"]


def test_follow_up_keeps_the_conversation(client):
    first = client.post("/api/chat", json={"question": "P-2025-001 能进入立项吗？"}, headers=STD).json()
    second = client.post("/api/chat", json={"question": "它的目标标准是什么？", "conversation_id": first["conversation_id"]},
                         headers=STD).json()
    assert second["conversation_id"] == first["conversation_id"]
    assert any("P-2025-001" in c["label"] for c in second["citations"])


def test_wrong_api_key_is_401_problem(client):
    response = client.get("/api/projects", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "API 密钥无效。"


def test_no_key_is_401_when_anonymous_access_is_off(api_settings, service):
    closed = TestClient(create_app(api_settings.model_copy(update={"allow_anonymous": False}), service))
    assert closed.get("/api/projects").status_code == 401
    assert closed.get("/api/projects", headers=STD).status_code == 200


def test_index_update_is_403_for_non_admin(client):
    response = client.post("/api/index", json={}, headers=STD)
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM


def test_index_update_runs_for_admin(client):
    response = client.post("/api/index", json={}, headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["total_chunks"] > 0


def test_unknown_project_is_404_problem(client):
    response = client.get("/api/projects/P-2099-999", headers=STD)
    assert response.status_code == 404
    problem = response.json()
    assert response.headers["content-type"] == PROBLEM
    assert problem["status"] == 404 and problem["title"] == "未找到"
    assert "P-2025-001" in problem["detail"]  # lists what this user may see instead


def test_too_big_body_is_413(client):
    response = client.post("/api/chat", json={"question": "许可声明" * 2000})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


def test_too_big_chunked_body_is_413(client):
    chunks = (b"x" * 1000 for _ in range(10))
    response = client.post("/api/chat", content=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_empty_question_is_422(client):
    blank = client.post("/api/chat", json={"question": "   "})
    assert blank.status_code == 422
    assert blank.json()["detail"] == "问题不能为空，请输入要咨询的内容。"
    missing = client.post("/api/chat", json={})
    assert missing.status_code == 422
    assert missing.headers["content-type"] == PROBLEM
    assert missing.json()["errors"][0]["loc"] == ["body", "question"]


def test_unexpected_error_is_a_generic_500_without_traceback(api_settings, shipped_index):
    class Broken(AssistantService):
        def list_projects(self, user, stage=None):
            raise RuntimeError("secret internal detail")

    broken = TestClient(create_app(api_settings, Broken(api_settings, index=shipped_index)), raise_server_exceptions=False)
    response = broken.get("/api/projects")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert "secret" not in response.text and "Traceback" not in response.text


def test_projects_are_filtered_by_group(client):
    assert client.get("/api/projects").json() == []  # anonymous: public knowledge only
    visible = [p["id"] for p in client.get("/api/projects", headers=STD).json()]
    assert visible == ["P-2025-001", "P-2025-003", "P-2025-005", "P-2025-006"]
    assert client.get("/api/projects/P-2025-002", headers=STD).status_code == 404
    assert client.get("/api/projects/P-2025-001").status_code == 404
    assert client.get("/api/projects/P-2025-001", headers=STD).json()["name"] == "5G基站智能节能技术联动创新项目"


def test_search_and_chat_are_filtered_by_group(client):
    anonymous = client.get("/api/search", params={"q": "5G基站智能节能", "source": "record"}).json()["hits"]
    assert anonymous == []
    hits = client.get("/api/search", params={"q": "5G基站智能节能", "source": "record"}, headers=STD).json()["hits"]
    assert hits and {h["doc_id"] for h in hits} <= {"P-2025-001", "P-2025-003", "P-2025-005", "P-2025-006"}
    answer = client.post("/api/chat", json={"question": "P-2025-001 的目标标准是什么？"}).json()
    assert not any(c["source"] == "record" for c in answer["citations"])
    assert "P-2025-001" not in "".join(c["label"] for c in answer["citations"])


def test_several_projects_in_one_question_are_filtered_by_group(client):
    mine = client.post("/api/chat", json={"question": "我的项目哪些能进入下一阶段？"}, headers=STD).json()
    assert {"P-2025-001", "P-2025-003", "P-2025-005", "P-2025-006"} <= set(re.findall(r"P-\d{4}-\d{3}", mine["answer"]))
    assert not {"P-2025-002", "P-2025-004", "P-2025-007"} & set(re.findall(r"P-\d{4}-\d{3}", mine["answer"]))
    named = client.post("/api/chat", json={"question": "P-2025-001 和 P-2025-002 哪个更接近立项？"}, headers=STD).json()
    assert "未找到项目：P-2025-002" in named["answer"] and "高镍" not in named["answer"]
    assert {c["doc_id"] for c in named["citations"] if c["source"] == "record"} == {"P-2025-001"}
    anonymous = client.post("/api/chat", json={"question": "P-2025-001 和 P-2025-002 哪个更接近立项？"}).json()
    assert "未找到项目：P-2025-001、P-2025-002" in anonymous["answer"] and anonymous["citations"] == []


def test_readiness_checklist(client):
    report = client.get("/api/projects/P-2025-001/readiness", headers=STD).json()
    assert report["target_stage"] == "立项" and report["items"]
    assert {i["status"] for i in report["items"]} <= {"met", "partial", "missing"}


def test_unknown_stage_is_422(client):
    response = client.get("/api/projects/P-2025-001/readiness", params={"target": "登月"}, headers=STD)
    assert response.status_code == 422


def test_proposal_is_a_docx_download(client):
    response = client.post("/api/projects/P-2025-001/proposal", headers=STD)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    assert "filename*=UTF-8''P-2025-001" in response.headers["content-disposition"]
    assert zipfile.is_zipfile(io.BytesIO(response.content))
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(response.content)).paragraphs)
    assert "5G基站智能节能技术联动创新项目" in text


def test_feedback_is_stored_with_question_answer_and_citations(client, service):
    answer = client.post("/api/chat", json={"question": "什么是专利导航？"}).json()
    response = client.post("/api/feedback", json={
        "rating": "down", "comment": "不够具体", "conversation_id": answer["conversation_id"],
        "question": "什么是专利导航？", "answer": answer["answer"], "citations": answer["citations"],
    })
    assert response.status_code == 201
    [stored] = service.store.feedback(answer["conversation_id"])
    assert (stored["rating"], stored["comment"], stored["question"]) == ("down", "不够具体", "什么是专利导航？")
    assert stored["citations"][0]["n"] == 1


def test_chat_stream_sends_steps_tokens_then_the_final_answer(client):
    with client.stream("POST", "/api/chat", json={"question": "什么是专利导航？", "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = "".join(response.iter_text())
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            events.append((fields["event"], json.loads(fields["data"])))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "step" and kinds[-1] == "final" and "token" in kinds
    assert kinds.index("token") > max(i for i, k in enumerate(kinds) if k == "step")
    final = events[-1][1]
    assert "".join(d["text"] for k, d in events if k == "token") == final["answer"]
    assert final["citations"]


def test_health_ready_docs_and_page(client, api_settings, tmp_path):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    empty = api_settings.model_copy(update={"data_dir": tmp_path})
    not_ready = TestClient(create_app(empty, AssistantService(empty)))
    assert not_ready.get("/readyz").status_code == 503
    assert "/v1/chat/completions" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "联动助手" in page.text


def test_web_page_loads_nothing_from_outside(client):
    for path in ("/", "/static/app.js", "/static/app.css"):
        body = client.get(path).text
        assert "http://" not in body and "https://" not in body, path


def test_serve_refuses_a_service_nobody_could_use(api_settings):
    with pytest.raises(ConfigurationError, match="LINKAGE_API_KEYS"):
        check_serve_settings(api_settings.model_copy(update={"allow_anonymous": False, "api_keys": {}}))
    with pytest.raises(ConfigurationError, match="LINKAGE_SLACK_SIGNING_SECRET"):
        check_serve_settings(api_settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-1")}))


@pytest.fixture(scope="module")
def openai_client(api_settings, service):
    with serve_app(create_app(api_settings, service)) as url:
        yield OpenAI(base_url=url + "/v1", api_key="k-std", max_retries=0)


def test_openai_client_gets_citations(openai_client):
    completion = openai_client.chat.completions.create(
        model="linkage-assistant", messages=[{"role": "user", "content": "标准必要专利的许可声明有哪些要求？"}]
    )
    content = completion.choices[0].message.content
    assert "来源：\n[1] GB/T 20003.1-2014" in content
    citations = completion.model_extra["citations"]
    assert citations[0]["n"] == 1 and citations[0]["quote"]


def test_openai_client_streams_with_citations(openai_client):
    stream = openai_client.chat.completions.create(
        model="linkage-assistant", stream=True,
        messages=[{"role": "system", "content": "请用中文回答"}, {"role": "user", "content": "什么是专利导航？"}],
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "专利导航" in content and "\n\n来源：\n[1]" in content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"]


def test_openai_models_and_bad_key(openai_client):
    assert [m.id for m in openai_client.models.list()] == ["linkage-assistant"]
    bad = openai_client.with_options(api_key="nope")
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="linkage-assistant", messages=[{"role": "user", "content": "你好"}])


def test_a_citation_opens_its_whole_clause(client):
    citation = client.post("/api/chat", json={"question": "标准必要专利的许可声明有哪些要求？"}).json()["citations"][0]
    clause = client.get(f"/api/clauses/{citation['chunk_id']}")
    assert clause.status_code == 200
    body = clause.json()
    assert citation["quote"] in body["text"] and len(body["text"]) > len(citation["quote"])
    assert body["citation"] == citation["label"]


def test_clauses_of_hidden_records_and_unknown_ids_are_404(client):
    citations = client.post("/api/chat", json={"question": "P-2025-001 的目标标准是什么？"}, headers=STD).json()["citations"]
    chunk_id = next(c["chunk_id"] for c in citations if c["source"] == "record")
    assert client.get(f"/api/clauses/{chunk_id}", headers=STD).status_code == 200
    hidden = client.get(f"/api/clauses/{chunk_id}")  # anonymous: public knowledge only
    assert hidden.status_code == 404 and hidden.headers["content-type"].startswith(PROBLEM)
    assert client.get("/api/clauses/no-such-chunk").status_code == 404


def test_openai_errors_reach_the_client_in_chinese(openai_client):
    """Under /v1 errors are OpenAI's error object, so the client shows the Chinese message itself."""
    with pytest.raises(openai.AuthenticationError) as bad_key:
        openai_client.with_options(api_key="nope").chat.completions.create(
            model="linkage-assistant", messages=[{"role": "user", "content": "你好"}])
    assert bad_key.value.body["message"] == "API 密钥无效。" and bad_key.value.code == "invalid_api_key"
    assert "API 密钥无效" in str(bad_key.value)

    with pytest.raises(openai.UnprocessableEntityError) as not_a_question:
        openai_client.chat.completions.create(model="linkage-assistant", messages=[{"role": "assistant", "content": "你好"}])
    assert not_a_question.value.body["message"] == "最后一条消息须是用户的问题。"
    assert not_a_question.value.type == "invalid_request_error" and "最后一条消息须是用户的问题" in str(not_a_question.value)

    with pytest.raises(openai.UnprocessableEntityError) as no_messages:
        openai_client.chat.completions.create(model="linkage-assistant", messages=[])
    assert "请求参数不合法" in no_messages.value.body["message"] and no_messages.value.param == "messages"

    with pytest.raises(openai.NotFoundError) as unknown_route:
        openai_client.embeddings.create(model="linkage-assistant", input="许可声明")
    assert unknown_route.value.body["message"] == "未找到" and unknown_route.value.code == "not_found"


def test_api_errors_stay_problem_documents(client):
    response = client.post("/api/chat", json={})
    assert response.headers["content-type"] == PROBLEM and "error" not in response.json()
    assert response.json()["detail"].startswith("请求参数不合法")


def test_unknown_routes_are_chinese(client):
    assert client.get("/api/nothing-here").json()["detail"] == "未找到"
    assert client.put("/api/chat").json()["detail"] == "不支持的请求方法"


@pytest.fixture(scope="module")
def keyless_settings(shipped_settings) -> Settings:
    return shipped_settings.model_copy(update={"api_keys": {}, "allow_anonymous": True})


def test_local_server_without_keys_acts_as_the_local_administrator(keyless_settings, shipped_index):
    local = TestClient(create_app(keyless_settings, AssistantService(keyless_settings, index=shipped_index), local_admin=True))
    assert len(local.get("/api/projects").json()) == 7  # like `linkage projects` on the same machine
    assert local.get("/api/me").json() == {"user": "local-admin", "admin": True, "groups": None,
                                           "local_admin": True, "anonymous": False}
    answer = local.post("/api/chat", json={"question": "这个项目能进入立项吗？", "project_id": "P-2025-002"}).json()
    assert answer["tool_calls"][0]["args"]["project_id"] == "P-2025-002" and "P-2025-002" in answer["answer"]
    assert local.post("/api/index", json={}).status_code == 200


@pytest.mark.parametrize("case", ["non-loopback bind", "a key is configured", "anonymous access off", "proxied request"])
def test_every_other_setup_keeps_the_key_rules(case, keyless_settings, shipped_index):
    settings, headers, local = keyless_settings, {}, True
    if case == "non-loopback bind":
        local = False
    elif case == "a key is configured":
        settings = settings.model_copy(update={"api_keys": {"k-std": ApiUser(user="alice", groups=["标准化部"])}})
    elif case == "anonymous access off":
        settings = settings.model_copy(update={"allow_anonymous": False, "api_keys": {"k": ApiUser(user="u")}})
    else:
        headers = {"X-Forwarded-For": "203.0.113.9"}
    app = TestClient(create_app(settings, AssistantService(settings, index=shipped_index), local_admin=local))
    response = app.get("/api/projects", headers=headers)
    if case == "anonymous access off":
        assert response.status_code == 401
        return
    assert response.json() == []  # anonymous: public knowledge only
    assert app.get("/api/me", headers=headers).json()["local_admin"] is False
    assert app.post("/api/index", json={}, headers=headers).status_code == 403


@pytest.mark.parametrize("host, local", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
                                         ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("example.org", False)])
def test_serve_uses_local_rules_only_on_loopback(host, local):
    assert app_factory(host).endswith(":create_local_app") is local
    assert app_factory(host).endswith(":create_served_app") is not local


def test_a_served_app_loads_models_and_dictionary_before_its_first_request(api_settings, shipped_index, monkeypatch):
    from assistant.index import dictionary

    monkeypatch.setattr(dictionary, "_glosses", None)
    service = AssistantService(api_settings)
    app = create_app(api_settings, service, warm_up=True)
    assert dictionary._glosses is None
    with TestClient(app) as client:  # start-up ran
        assert dictionary._glosses  # the first English question no longer builds it (~2 s)
        assert client.get("/api/search", params={"q": "What are the workflow stages?"}).status_code == 200


def test_a_served_app_starts_before_anything_is_indexed(tmp_path):
    settings = Settings(data_dir=tmp_path, embedding_backend="hashing", _env_file=None)
    with TestClient(create_app(settings, warm_up=True)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503


def test_docs_and_redoc_are_served_without_a_cdn(client):
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]  # the browser may fetch nothing else
        assert "cdn" not in page.text.lower() and "https://" not in page.text, path
        assets = [a for a in re.findall(r'(?:src|href)="([^"]+)"', page.text) if a.endswith((".js", ".css"))]
        assert assets and all(a.startswith("/") for a in assets), assets
        for asset in assets:
            served = client.get(asset)
            assert served.status_code == 200 and len(served.content) > 10_000, asset


def test_openai_stream_failure_reaches_the_client_in_chinese(api_settings, shipped_index):
    """A failure after the stream began arrives in-band as OpenAI's error object; the client raises it."""
    from assistant.agent.models import AgentEvent
    from assistant.errors import LLMError

    class FailsMidway(AssistantService):
        def ask_stream(self, question, user, conversation_id=None, project_id=None):
            def events():
                yield AgentEvent(type="token", text="许可声明")
                raise LLMError("大模型服务超时，请稍后重试。")
            return events()

    with serve_app(create_app(api_settings, FailsMidway(api_settings, index=shipped_index))) as url:
        client = OpenAI(base_url=url + "/v1", api_key="k-std", max_retries=0)
        stream = client.chat.completions.create(model="linkage-assistant", stream=True,
                                                messages=[{"role": "user", "content": "什么是许可声明？"}])
        with pytest.raises(openai.APIError) as failure:
            list(stream)
    assert failure.value.message == "大模型服务超时，请稍后重试。"
    assert failure.value.body["type"] == "server_error" and failure.value.body["code"] == "upstream_error"


def test_the_server_gives_each_request_one_blas_thread(tmp_path):
    """Requests already share the cores: OpenBLAS threads for one request's matrix product only spin
    (five times the CPU of a cached search under load). Checked in a fresh process, at OpenBLAS's default."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom threadpoolctl import threadpool_info\n"
        "from assistant.settings import Settings\nfrom assistant.surfaces.api import create_app\n"
        "create_app(Settings(data_dir=Path(sys.argv[1]), embedding_backend='hashing', _env_file=None))\n"
        "print(sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}))\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("LINKAGE_", "OPENBLAS_", "OMP_"))}
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[1]"

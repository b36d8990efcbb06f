"""Questions about several projects: named ids, "my projects", stage filters, the cap, follow-ups,
visibility (a hidden project is answered exactly like one that does not exist), and in LLM mode a
model comparison that is kept only when its project facts agree with the code's results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from agent_support import FakeOpenAI, ScriptedChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import SecretStr

from assistant.agent.citations import MARKER
from assistant.agent.service import AssistantService
from assistant.tools.context import User

ADMIN = User.local_admin()
STANDARDS = User(name="std", groups=["标准化部"])  # sees P-2025-001, 003, 005, 006 — not 002, 004, 007
HIDDEN = {"P-2025-002": "高镍单晶", "P-2025-004": "液冷充电", "P-2025-007": "植保无人机"}
TRANSCRIPTS = Path(__file__).parent / "data" / "llm-transcripts"


def make_service(shipped_settings, shipped_index, tmp_path, model=None, **settings) -> AssistantService:
    return AssistantService(shipped_settings.model_copy(update={"data_dir": tmp_path, **settings}), index=shipped_index, chat_model=model)


@pytest.fixture
def offline(shipped_settings, shipped_index, tmp_path) -> AssistantService:
    return make_service(shipped_settings, shipped_index, tmp_path)


def sections(answer) -> list[str]:
    """The project ids heading each per-project section, in order."""
    return re.findall(r"^▶ (P-\d{4}-\d{3})", answer.answer, re.MULTILINE)


def assert_verified(answer, index) -> None:
    """Every marker names a citation, and every quote is verbatim in its stored chunk."""
    numbers = {c.n for c in answer.citations}
    for match in MARKER.finditer(answer.answer):
        assert all(int(n) in numbers for n in re.split(r"[,，、]", match.group(1))), match.group(0)
    stored = {h.id: h.text for h in index.get([c.chunk_id for c in answer.citations])}
    assert all(c.quote in stored[c.chunk_id] for c in answer.citations)
    assert len({c.n for c in answer.citations}) == len(answer.citations)


def assert_nothing_hidden(answer) -> None:
    shown = answer.answer + json.dumps([c.model_dump() for c in answer.citations], ensure_ascii=False)
    for pid, name in HIDDEN.items():
        assert name not in shown
    assert not any(c.doc_id in HIDDEN for c in answer.citations)
    assert not any(t.args.get("project_id") in HIDDEN for t in answer.tool_calls)


# ----- offline -----


def test_two_named_projects_compared_for_a_stage(offline, shipped_index):
    answer = offline.ask("P-2025-001 和 P-2025-003 哪个更接近立项？", ADMIN)
    assert answer.grounded and answer.mode == "offline"
    assert {(t.name, t.args["project_id"]) for t in answer.tool_calls} == {("check_readiness", "P-2025-001"), ("get_project", "P-2025-003")}
    assert "离「立项」最近的是 P-2025-003" in answer.answer  # already at 实施
    assert sections(answer) == ["P-2025-003", "P-2025-001"]
    assert "进入「立项」：就绪" in answer.answer
    assert {c.doc_id for c in answer.citations} >= {"P-2025-001", "P-2025-003"}
    assert_verified(answer, shipped_index)


def test_three_named_projects_each_answered_from_its_own_record(offline, shipped_index):
    answer = offline.ask("比较一下 P-2025-002、P-2025-004、P-2025-006 的专利布局", ADMIN)
    assert sections(answer) == ["P-2025-002", "P-2025-004", "P-2025-006"]
    assert [t.name for t in answer.tool_calls] == ["get_project"] * 3
    for pid in ("P-2025-002", "P-2025-004", "P-2025-006"):
        body = answer.answer.split(f"▶ {pid}")[1].split("▶")[0]
        numbers = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
        assert numbers and {c.doc_id for c in answer.citations if c.n in numbers} == {pid}  # each cites its own record
    assert_verified(answer, shipped_index)


def test_an_english_comparison_reads_the_records_through_the_glossary(offline, shipped_index):
    answer = offline.ask("Compare the budgets of P-2025-001 and P-2025-004", ADMIN)
    assert sections(answer) == ["P-2025-001", "P-2025-004"] and "380" in answer.answer and "520" in answer.answer
    assert_verified(answer, shipped_index)


def test_readiness_of_several_lists_what_each_one_misses(offline):
    answer = offline.ask("P-2025-002 和 P-2025-007 各自还缺什么？", ADMIN)
    assert sections(answer) == ["P-2025-002", "P-2025-007"]  # fewer unmet requirements first
    p2 = answer.answer.split("▶ P-2025-002")[1].split("▶")[0]
    assert "缺失：已完成知识产权检索或专利导航报告" in p2 and "尚不就绪" in p2
    assert "尚不就绪：P-2025-002（2 项未满足）、P-2025-007（4 项未满足）" in answer.answer


def test_a_hidden_project_is_answered_exactly_like_one_that_does_not_exist(offline):
    """The restricted user names a project of other groups: the reply is the one a made-up id gets."""
    hidden = offline.ask("P-2025-001、P-2025-002 和 P-2025-003 哪个更接近立项？", STANDARDS)
    unknown = offline.ask("P-2025-001、P-2025-098 和 P-2025-003 哪个更接近立项？", STANDARDS)
    assert hidden.answer.replace("P-2025-002", "P-2025-098") == unknown.answer
    assert "未找到项目：P-2025-002" in hidden.answer and sections(hidden) == ["P-2025-003", "P-2025-001"]
    assert_nothing_hidden(hidden)


def test_my_projects_are_only_those_i_may_see(offline, shipped_index):
    answer = offline.ask("Which of my projects are ready for the next stage?", STANDARDS)
    assert sorted(sections(answer)) == ["P-2025-001", "P-2025-003", "P-2025-005", "P-2025-006"]
    assert not any(pid in answer.answer for pid in HIDDEN)  # not even as "not found"
    assert_nothing_hidden(answer)
    assert "Ready: " in answer.answer  # English question, English frame
    assert_verified(answer, shipped_index)


def test_unknown_ids_only_get_a_clear_message_naming_them(offline):
    answer = offline.ask("P-2025-098 和 P-2025-099 哪个更接近立项？", STANDARDS)
    assert "未找到项目：P-2025-098、P-2025-099" in answer.answer
    assert "P-2025-001" in answer.answer  # what the user may ask about instead
    assert not answer.grounded and answer.citations == [] and sections(answer) == []
    assert_nothing_hidden(answer)


def test_my_projects_at_a_stage(offline):
    listed = offline.ask("我们有哪些项目处于评估阶段？", User(name="ip", groups=["知识产权部"]))
    assert re.findall(r"^- (P-\d{4}-\d{3})", listed.answer, re.MULTILINE) == ["P-2025-001", "P-2025-002", "P-2025-007"]
    mine = offline.ask("我们有哪些项目处于评估阶段？", STANDARDS)
    assert re.findall(r"^- (P-\d{4}-\d{3})", mine.answer, re.MULTILINE) == ["P-2025-001"]
    checked = offline.ask("评估阶段的项目哪些能进入立项？", User(name="ip", groups=["知识产权部"]))
    assert sections(checked) == ["P-2025-001", "P-2025-002", "P-2025-007"]
    assert all(t.args.get("target_stage") == "立项" for t in checked.tool_calls)
    assert sections(offline.ask("评估阶段的项目哪些能进入立项？", STANDARDS)) == ["P-2025-001"]


def test_projects_already_past_the_stage_are_named_not_checked(offline):
    answer = offline.ask("哪些项目能进入立项？", STANDARDS)
    assert sections(answer) == ["P-2025-001", "P-2025-005"]
    assert "已处于「立项」或之后、无需检查：P-2025-003（实施）、P-2025-006（成果运用）" in answer.answer
    assert_nothing_hidden(answer)


def test_the_cap_covers_the_first_projects_and_names_the_rest(shipped_settings, shipped_index, tmp_path):
    service = make_service(shipped_settings, shipped_index, tmp_path, max_projects_per_answer=2)
    answer = service.ask("Which of my projects are ready for the next stage?", ADMIN)
    assert len(sections(answer)) == 2 and len(answer.tool_calls) == 2
    assert "covers 7 projects; one answer covers at most 2" in answer.answer
    assert "P-2025-003、P-2025-004、P-2025-005、P-2025-006、P-2025-007" in answer.answer
    named = service.ask("P-2025-001、P-2025-002、P-2025-003 的预算分别是多少？", ADMIN)
    assert sections(named) == ["P-2025-001", "P-2025-002"] and "未列出的 P-2025-003" in named.answer


def test_a_follow_up_names_a_project_by_its_place_in_the_answer(offline):
    """"那第二个呢？" in the order the answer showed them; "它" after several projects asks which one."""
    first = offline.ask("P-2025-002 和 P-2025-007 能进入立项吗？", ADMIN)
    assert sections(first) == ["P-2025-002", "P-2025-007"]
    second = offline.ask("那第二个呢？", ADMIN, conversation_id=first.conversation_id)
    assert [(t.name, t.args) for t in second.tool_calls] == [("check_readiness", {"project_id": "P-2025-007", "target_stage": "立项"})]
    back = offline.ask("那第一个呢？", ADMIN, conversation_id=first.conversation_id)  # the list is still remembered
    assert back.tool_calls[0].args["project_id"] == "P-2025-002"
    assert offline.ask("那它还缺什么？", ADMIN, conversation_id=first.conversation_id).tool_calls[0].args["project_id"] == "P-2025-002"
    listed = offline.ask("我们有哪些项目处于评估阶段？", ADMIN)
    third = offline.ask("第一个项目的负责人是谁？", ADMIN, conversation_id=listed.conversation_id)
    assert third.tool_calls[0].args["project_id"] == "P-2025-001" and "陈立航" in third.answer
    several = offline.ask("P-2025-002 和 P-2025-007 能进入立项吗？", ADMIN)
    unclear = offline.ask("那它还缺什么？", ADMIN, conversation_id=several.conversation_id)
    assert unclear.tool_calls == [] and "请说明是哪个项目" in unclear.answer


def test_a_draft_for_several_projects_asks_which_one_first(offline):
    answer = offline.ask("帮我起草 P-2025-001 和 P-2025-002 的立项建议书", STANDARDS)
    assert answer.tool_calls == [] and not answer.grounded
    assert "一次只起草一个项目的材料" in answer.answer and "P-2025-001、P-2025-002" in answer.answer
    assert_nothing_hidden(answer)


def test_each_project_is_a_streamed_step(offline):
    events = list(offline.ask_stream("P-2025-001 和 P-2025-002 能进入立项吗？", ADMIN))
    steps = [(e.tool, e.args["project_id"]) for e in events if e.type == "step"]
    assert steps == [("check_readiness", "P-2025-001"), ("check_readiness", "P-2025-002")]
    assert events[-1].type == "final" and "".join(e.text for e in events if e.type == "token") == events[-1].answer.answer


def test_the_command_line_answers_for_the_groups_given(cli):
    result = cli("ask", "P-2025-001 和 P-2025-002 哪个更接近立项？", "--as-groups", "标准化部")
    assert result.exit_code == 0, result.output
    assert "未找到项目：P-2025-002" in result.output and "高镍" not in result.output


# ----- LLM mode -----


class PromptedModel(ScriptedChatModel):
    """A scripted model whose reply is written from the prompt it receives (to cite real numbers)."""

    write_reply: object = None

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        self.received.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.write_reply(messages[-1].content)))])


def number_of(prompt: str, cite: str) -> int:
    """The evidence number the prompt gives a source ("项目记录 P-2025-002 已有材料")."""
    return int(re.search(rf"\[(\d+)\] 〔{re.escape(cite)}〕", prompt).group(1))


def llm_service(shipped_settings, shipped_index, tmp_path, reply) -> tuple[AssistantService, PromptedModel]:
    model = PromptedModel(write_reply=reply)
    return make_service(shipped_settings, shipped_index, tmp_path, model), model


QUESTION = "P-2025-001 和 P-2025-002 哪个更接近立项？"


def test_a_comparison_that_agrees_with_the_checks_is_kept_beside_them(shipped_settings, shipped_index, tmp_path):
    def reply(prompt: str) -> str:
        n = number_of(prompt, "项目记录 P-2025-002 已有材料")
        return f"P-2025-001 更接近立项。P-2025-002 的成熟度与标准需求评估还是草稿 [{n}]。"

    service, model = llm_service(shipped_settings, shipped_index, tmp_path, reply)
    answer = service.ask(QUESTION, ADMIN)
    assert len(model.received) == 1 and model.bound_tools == []  # one call, no tool schemas
    prompt = model.received[0][-1].content
    assert "P-2025-002（高镍单晶三元正极材料成果转化与标准化项目）：当前阶段「评估」；进入「立项」：尚不就绪" in prompt
    assert "〔项目记录 P-2025-001 已有材料〕" in prompt and "〔GB/T" not in prompt  # the checklists' clauses stay out
    assert answer.answer.startswith("P-2025-001 更接近立项。P-2025-002 的成熟度与标准需求评估还是草稿 [1]。")
    assert "【确定性结果，未经大模型改写】" in answer.answer and sections(answer) == ["P-2025-001", "P-2025-002"]
    assert answer.citations[0].n == 1 and answer.citations[0].doc_id == "P-2025-002"
    assert_verified(answer, shipped_index)


@pytest.mark.parametrize(
    "wrong",
    [
        "P-2025-002 已经就绪，可以进入立项 [1]。",  # the verdict is wrong
        "P-2025-002 更接近立项 [1]。",  # the comparison is wrong
        "P-2025-001 目前处于立项阶段 [1]。",  # the stage is wrong
        "P-2025-001 还缺少可行性研究报告 [1]。",  # that item is met
        "P-2025-003 也尚不就绪 [1]。",  # a project the question did not cover
    ],
)
def test_a_comparison_that_disagrees_with_the_checks_is_replaced(shipped_settings, shipped_index, tmp_path, wrong):
    service, _ = llm_service(shipped_settings, shipped_index, tmp_path, lambda prompt: wrong)
    answer = service.ask(QUESTION, ADMIN)
    assert wrong.split(" [")[0] not in answer.answer
    assert "不一致" in answer.answer and "尚不就绪：P-2025-002" in answer.answer
    assert sections(answer) == ["P-2025-001", "P-2025-002"]
    assert_verified(answer, shipped_index)


def test_a_comparison_of_records_replaces_the_extracts_only_when_verified(shipped_settings, shipped_index, tmp_path):
    def reply(prompt: str) -> str:
        a, b = number_of(prompt, "项目记录 P-2025-002 专利"), number_of(prompt, "项目记录 P-2025-004 专利")
        return f"P-2025-002 有一种高镍单晶三元正极材料及其制备方法的已授权专利 [{a}]；P-2025-004 也有已授权专利 [{b}]。"

    service, _ = llm_service(shipped_settings, shipped_index, tmp_path, reply)
    answer = service.ask("比较一下 P-2025-002、P-2025-004 和 P-2025-098 的专利布局", ADMIN)
    assert answer.answer.startswith("未找到项目：P-2025-098")
    assert "已授权专利 [1]" in answer.answer and "[2]" in answer.answer and "未经大模型改写" not in answer.answer
    assert_verified(answer, shipped_index)


def test_the_model_never_hears_of_hidden_projects(shipped_settings, shipped_index, tmp_path):
    service, model = llm_service(shipped_settings, shipped_index, tmp_path, lambda prompt: "P-2025-002 处于评估阶段，尚不就绪。")
    answer = service.ask("P-2025-001、P-2025-002 和 P-2025-003 哪个更接近立项？", STANDARDS)
    sent = "\n".join(m.content for m in model.received[0])
    assert "高镍" not in sent and "P-2025-002 已有材料" not in sent
    assert "尚不就绪。" not in answer.answer.split("\n")[1]  # the model's words about the hidden id are dropped
    assert_nothing_hidden(answer)


def test_a_tool_call_written_as_text_is_not_shown(shipped_settings, shipped_index, tmp_path):
    call = '```json\n{"name": "check_readiness", "arguments": {"project_id": "P-2025-002", "target_stage": "立项"}}\n```'
    service, _ = llm_service(shipped_settings, shipped_index, tmp_path, lambda prompt: call)
    answer = service.ask(QUESTION, ADMIN)
    assert "```" not in answer.answer and "arguments" not in answer.answer
    assert sections(answer) == ["P-2025-001", "P-2025-002"] and answer.grounded


def recorded(model: str, question_part: str) -> dict:
    for line in (TRANSCRIPTS / f"{model}.jsonl").read_text(encoding="utf-8").splitlines():
        exchange = json.loads(line)
        if question_part in exchange["request"]["messages"][-1]["content"]:
            return exchange["response"]
    raise AssertionError(question_part)


@pytest.mark.parametrize(
    ("model", "question_part"),
    [("qwen2.5-coder-1.5b-instruct", "P-2025-002"), ("qwen2.5-coder-0.5b-instruct", "P-2025-002"), ("qwen2.5-coder-1.5b-instruct", "归口管理")],
)
def test_recorded_small_model_replies_leave_the_checks_intact(shipped_settings, shipped_index, tmp_path, model, question_part):
    """Real Qwen replies (a JSON tool call, the question echoed, an invented answer) through the real client."""
    with FakeOpenAI() as server:
        server.script = [recorded(model, question_part)] * 2
        settings = {"llm_base_url": server.base_url, "llm_model": "qwen", "llm_api_key": SecretStr("x"), "llm_max_retries": 0}
        service = make_service(shipped_settings, shipped_index, tmp_path, **settings)
        events = list(service.ask_stream(QUESTION, ADMIN))
        assert len(server.requests) == 1 and "tools" not in server.requests[0]
    answer = events[-1].answer
    assert answer.mode == "llm" and sections(answer) == ["P-2025-001", "P-2025-002"]
    assert "尚不就绪：P-2025-002" in answer.answer and "```" not in answer.answer
    assert "".join(e.text for e in events if e.type == "token") == answer.answer
    assert_verified(answer, shipped_index)


def test_recorded_replies_on_the_second_search_path_get_an_honest_decline(shipped_settings, shipped_index, tmp_path):
    """Nothing found: the tool-calling path offers one search tool; a recorded reply that ignores it is not shown."""
    with FakeOpenAI() as server:
        server.script = [recorded("qwen2.5-coder-1.5b-instruct", "天气")]
        settings = {"llm_base_url": server.base_url, "llm_model": "qwen", "llm_api_key": SecretStr("x"), "llm_max_retries": 0}
        answer = make_service(shipped_settings, shipped_index, tmp_path, **settings).ask("ZXQW 的 FRAND 是啥？", ADMIN)
        assert [t["function"]["name"] for t in server.requests[0]["tools"]] == ["search_knowledge"]
    assert not answer.grounded and "晴朗" not in answer.answer and "没有找到" in answer.answer

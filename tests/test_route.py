"""Routing by rules: stages by position, by reference and by the move between two stages; project ids next to Chinese."""

from __future__ import annotations

import pytest

from assistant.agent.conversations import Turn
from assistant.agent.evidence import named_project
from assistant.agent.route import PROJECT_ID, holder_said, project_named, split_questions, understand


def turn(topic: str | None, project_id: str | None = None) -> Turn:
    return Turn(question="…", answer="…", project_id=project_id, topic=topic, citations=[])


@pytest.fixture
def flow(admin_ctx):
    return admin_ctx.workflow


def test_a_project_id_written_against_chinese_text_is_found():
    assert PROJECT_ID.findall("P-2025-001能否进入成果运用阶段？") == ["P-2025-001"]
    assert PROJECT_ID.findall("XP-2025-0012") == []


@pytest.mark.parametrize(
    ("question", "target"),
    [
        ("P-2025-001能否进入成果运用阶段？", "成果运用"), ("P-2025-003 能进入评价改进吗", "评价改进"), ("P-2025-002 可以进入「立项」吗？", "立项"),
        ("P-2025-005 现在可以往评估阶段走了吗？", "评估"), ("P-2025-001 能不能转到实施？", "实施"),
    ],
)
def test_readiness_checks_the_four_character_stage_named(flow, question, target):
    route = understand(question, flow, None, None)
    assert (route.kind, route.target_stage) == ("readiness", target)


@pytest.mark.parametrize(
    ("question", "stage"),
    [
        ("联动工作流程的第四步是什么？", "实施"),
        ("项目从构思往评估走，门槛是什么？", "评估"),
        ("想从实施进到成果运用，手上得有哪些记录和报告？", "成果运用"),
        ("我们还在评估阶段，一般要干啥？", "评估"),  # a comma and an adverb between the stage and the ask
    ],
)
def test_stage_questions_by_position_or_by_the_move_between_stages(flow, question, stage):
    route = understand(question, flow, None, None)
    assert (route.kind, route.stage) == ("stage", stage)


def test_this_stage_follows_the_previous_stage_answer(flow):
    route = understand("这一步要交哪些材料？", flow, None, turn("实施"))
    assert (route.kind, route.stage) == ("stage", "实施")
    assert understand("那最后一步叫什么？", flow, None, turn("构思")).stage == "评价改进"
    # without a stage before it, "这一步" is not a stage question
    assert understand("这一步要交哪些材料？", flow, None, turn("联动指南是谁起草的？")).kind == "knowledge"


def test_a_project_question_stays_with_the_project(flow):
    assert understand("P-2025-004 进到成果运用需要哪些材料？", flow, None, None).kind == "readiness"
    assert understand("它还缺什么？", flow, None, turn("readiness", "P-2025-004")).kind == "readiness"


@pytest.mark.parametrize(
    ("question", "stage"),
    [
        ("What must a project have before it can move into the evaluation and improvement stage?", "评价改进"),
        ("What does a project need to enter the implementation stage?", "实施"),
    ],
)
def test_english_gate_questions_route_to_the_stage(admin_ctx, question, stage):
    route = understand(question, admin_ctx.workflow, None, None, admin_ctx.settings.glossary_path)
    assert (route.kind, route.stage) == ("stage", stage)


def test_an_english_question_naming_no_stage_stays_a_knowledge_question(admin_ctx):
    route = understand("What must a licensing declaration contain?", admin_ctx.workflow, None, None, admin_ctx.settings.glossary_path)
    assert route.kind == "knowledge"


def test_a_project_is_named_by_its_own_words_anywhere_in_the_question(admin_ctx):
    """Not only by the phrase right before 项目 (evidence.named_project): the two must stay apart."""
    question = "5G基站智能节能的项目谁牵头？"
    assert named_project(question) == ()
    assert project_named(question, admin_ctx) == "P-2025-001"
    assert project_named("项目里5G基站智能节能那块谁牵头？", admin_ctx) == "P-2025-001"


@pytest.mark.parametrize(
    "question, project",
    [
        ("Who handles patent licensing in the immersion cooling project?", "P-2025-006"),
        ("What is the target standard of the base station energy saving project?", "P-2025-001"),
    ],
)
def test_an_english_question_names_a_project_by_its_field(admin_ctx, question, project):
    """The glossary term as a whole (浸没式液冷) names the one record whose name holds it,
    though its parts are short (浸没) or shared with another record's name (液冷)."""
    assert project_named(question, admin_ctx) == project


def test_an_english_field_two_records_share_names_no_project(admin_ctx):
    assert project_named("Who leads the liquid cooling project?", admin_ctx) is None


def test_a_question_that_uses_the_word_draft_is_not_a_draft_request(admin_ctx):
    """起草 and 它 in a knowledge question ("它" is the unit) ask for no draft and name no project."""
    route = understand("不参与起草的单位能不能披露它知道的必要专利？", admin_ctx.workflow, None, None, admin_ctx.settings.glossary_path)
    assert route.kind == "knowledge"
    assert understand("给它写一份立项建议书", admin_ctx.workflow, None, None, admin_ctx.settings.glossary_path).kind == "needs_project"


def test_this_standard_after_a_project_answer_is_that_projects_target_standard(flow):
    """"这个标准" right after an answer about a project asks about that project's target standard;
    after a knowledge answer it names no project."""
    route = understand("这个标准要和哪些现行标准协调？", flow, None, turn("project", "P-2025-004"))
    assert (route.kind, route.project_id) == ("project", "P-2025-004")
    assert understand("这个标准要和哪些现行标准协调？", flow, None, turn("knowledge")).kind == "knowledge"


def test_a_project_is_named_by_the_person_who_runs_it(admin_ctx, shipped_settings, shipped_index):
    """"陈立航负责的那个项目" is the one project whose team holds 陈立航, for a user who may see it."""
    from assistant.tools.context import ToolContext, User

    assert project_named("陈立航负责的那个项目进展到哪了？", admin_ctx) == "P-2025-001"
    outsider = ToolContext(shipped_settings, user=User(name="outsider", groups=["市场部"]), _index=shipped_index)
    assert project_named("陈立航负责的那个项目进展到哪了？", outsider) is None


def test_whether_a_projects_materials_suffice_is_its_readiness(flow):
    assert understand("P-2025-001 的材料够上立项评审了吗？", flow, None, None).kind == "readiness"
    assert understand("P-2025-002 立项的材料齐了没？", flow, None, None).kind == "readiness"


def test_a_project_named_by_its_organisation_is_that_project(shipped_settings, shipped_index, tmp_path):
    """"华充新能源那个充电项目": the organisation's leading words name the record as its name does,
    and they say nothing of what is asked (the answer is the target standard, not the 承担单位 line)."""
    from assistant.agent.service import AssistantService
    from assistant.tools.context import User

    service = AssistantService(shipped_settings.model_copy(update={"data_dir": tmp_path}), index=shipped_index)
    answer = service.ask("华充新能源那个充电项目的目标标准是什么？", User.local_admin())
    assert [(c.name, c.args.get("project_id")) for c in answer.tool_calls] == [("get_project", "P-2025-004")]
    assert "中国电力企业联合会" in answer.answer
    assert "承担单位" not in answer.answer


def test_holder_said_takes_the_leading_part_of_an_organisation(admin_ctx):
    from assistant.tools.records import get_project

    record = get_project(admin_ctx, "P-2025-002")
    assert holder_said("东川理工那个正极材料项目谁负责？", record) == ["东川理工"]
    assert holder_said("这个正极材料项目谁负责？", record) == []  # neither the university nor the school is named


@pytest.mark.parametrize(
    ("question", "out_of_scope"),
    [
        ("帮我写一段排序的代码", True),
        ("写个Python脚本读一下Excel", True),
        ("台账里目标国标的阶段，是写阶段名称还是写阶段代码？", False),  # GB/T 16733's 阶段代码
        ("团体标准编写的程序有哪些环节？", False),  # 程序: a procedure
    ],
)
def test_a_request_for_code_is_out_of_scope_but_the_trades_codes_and_procedures_are_not(flow, question, out_of_scope):
    assert (understand(question, flow, None, None).kind == "out_of_scope") is out_of_scope


def test_the_stage_moved_to_follows_an_entering_word_not_the_to_of_got(flow):
    """"已经拿到立项批复…能转入实施吗": 拿到 is "got", not "moved to"; the stage entered is 实施."""
    route = understand("我们的项目已经拿到立项批复，现在能转入实施吗？", flow, None, None)
    assert route.target_stage == "实施"


def test_a_closing_remark_that_asks_nothing_is_no_question():
    """"…编号是多少？我要写进立项书里。" asks one thing; a closing remark is not answered on its own,
    while a closing request without a question mark still is."""
    assert split_questions("联动指南发布后的编号是多少？我要写进立项书的引用里。") == ["联动指南发布后的编号是多少？"]
    assert split_questions("Who won the NBA Finals? I'm settling a bet with a colleague.") == ["Who won the NBA Finals?"]
    assert split_questions("立项阶段要交什么？再列出实施阶段的交付物。") == ["立项阶段要交什么？", "再列出实施阶段的交付物。"]
    assert split_questions("团标这块有啥风险？专利披露表现在啥状态") == ["团标这块有啥风险？", "专利披露表现在啥状态"]


def test_a_patent_application_and_a_document_still_in_draft_ask_for_no_draft(admin_ctx):
    """The 请 of 申请 is no "please", and "marked as a draft" names a draft, it does not ask to write one."""
    glossary = admin_ctx.settings.glossary_path
    applied = understand("项目里刚交了几件发明申请，还在实审。标准起草的时候这些也要报出来吗？", admin_ctx.workflow, None, None, glossary)
    assert applied.kind == "knowledge"
    noun = understand("If a gate document is still marked as a draft, does it count toward moving to the next stage?", admin_ctx.workflow, None, None, glossary)
    assert noun.kind == "knowledge"
    verb = understand("Please draft the project proposal for it", admin_ctx.workflow, None, None, glossary)
    assert verb.kind == "needs_project"


def test_an_english_move_between_two_named_stages_asks_for_the_gate_of_the_one_entered(admin_ctx):
    route = understand(
        "Our project is in the implementation phase. What has to be finished before it can move on to the stage of putting the results to use?",
        admin_ctx.workflow, None, None, admin_ctx.settings.glossary_path,
    )
    assert (route.kind, route.stage) == ("stage", "成果运用")


def test_english_readiness_is_asked_as_what_blocks_a_move(flow):
    assert understand("What's blocking P-2025-004 from moving into the implementation stage?", flow, None, None).kind == "readiness"
    assert understand("P-2025-004 still can't move into implementation. Why?", flow, None, None).kind == "readiness"


def test_it_of_a_document_the_message_names_first_is_no_project(flow):
    """"材料还在草稿状态，能不能先算它过了门槛": 它 is the material; a general gate question, not "which project?"."""
    assert understand("材料还在草稿状态，能不能先算它过了门槛？", flow, None, None).kind != "needs_project"
    assert understand("它能进入立项吗？", flow, None, None).kind == "needs_project"

"""Project records, their visibility, the workflow model and `linkage projects`."""

from __future__ import annotations

import json
import logging

import pytest

from assistant.errors import DocumentLoadError, UnknownProjectError, UnknownStageError
from assistant.settings import SHIPPED_CORPUS
from assistant.tools.context import ToolContext, User
from assistant.tools.records import RecordStore, get_project, list_projects
from assistant.tools.workflow import Citer, explain_stage, load_workflow

SHIPPED_IDS = sorted(p.stem for p in (SHIPPED_CORPUS / "records").glob("*.yaml"))
STAGES = ["构思", "评估", "立项", "实施", "成果运用", "评价改进"]
MATERIALS_GROUP = "材料学院课题组"  # only P-2025-002 grants access to it


@pytest.fixture
def outsider(admin_ctx) -> ToolContext:
    return admin_ctx.for_user(User(name="guest", groups=[MATERIALS_GROUP]))


def _record_yaml(project_id: str, **extra: str) -> str:
    lines = [f"id: {project_id}", "name: 测试项目", "stage: 评估", "access: [测试组]"]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def test_every_shipped_record_loads(admin_ctx):
    assert len(SHIPPED_IDS) >= 7
    assert [p.id for p in list_projects(admin_ctx)] == SHIPPED_IDS


def test_records_are_typed_and_derive_conditions(admin_ctx):
    p1 = get_project(admin_ctx, "P-2025-001")
    assert p1.targets_standard and p1.has_patents and p1.has_patents_on_standard
    assert p1.budget.total_wan == 380 and len(p1.budget.items) == 8
    assert p1.evidence_of("patent_disclosure")[0].status == "草稿"
    assert p1.evidence_of("tech_assessment")[0].date == "2025-03-20"  # YAML dates stay text
    p5 = get_project(admin_ctx, "P-2025-005")
    assert p5.targets_standard and p5.has_patents and not p5.has_patents_on_standard
    p7 = get_project(admin_ctx, "P-2025-007")
    assert not p7.targets_standard and not p7.has_patents_on_standard
    assert p7.budget is None and p7.team == []
    assert p7.evidence_of("feasibility_report") == []


def test_stage_filter_accepts_aliases_and_rejects_unknown_stages(admin_ctx):
    in_evaluation = ["P-2025-001", "P-2025-002", "P-2025-007"]
    for name in ("评估", "评估阶段", "项目评估", "联动创新项目评估"):
        assert [p.id for p in list_projects(admin_ctx, stage=name)] == in_evaluation
    with pytest.raises(UnknownStageError) as err:
        list_projects(admin_ctx, stage="落地")
    assert err.value.valid == STAGES and "构思" in str(err.value)


def test_invisible_records_look_exactly_like_missing_ones(admin_ctx, outsider):
    assert [p.id for p in list_projects(outsider)] == ["P-2025-002"]
    assert get_project(outsider, "P-2025-002").name.startswith("高镍单晶")
    with pytest.raises(UnknownProjectError) as hidden:
        get_project(outsider, "P-2025-001")
    with pytest.raises(UnknownProjectError) as missing:
        get_project(outsider, "P-2099-999")
    assert hidden.value.valid == missing.value.valid == ["P-2025-002"]
    assert str(hidden.value).replace("P-2025-001", "X") == str(missing.value).replace("P-2099-999", "X")
    with pytest.raises(UnknownProjectError) as none:
        get_project(admin_ctx.for_user(User(name="nobody", groups=[])), "P-2025-002")
    assert none.value.valid == [] and "无可见项目" in str(none.value)


def test_for_user_shares_records_and_workflow(admin_ctx, outsider):
    assert outsider.records is admin_ctx.records
    assert outsider.workflow is admin_ctx.workflow
    assert outsider.index is admin_ctx.index


def test_bad_record_files_are_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "good.yaml").write_text(_record_yaml("T-1", owner="张三", custom_field="保留"), encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("id: T-2\nname: [未闭合\n", encoding="utf-8")
    (tmp_path / "no-stage.yaml").write_text("id: T-3\nname: 缺少阶段\n", encoding="utf-8")
    (tmp_path / "z-dup.yaml").write_text(_record_yaml("T-1"), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("不是记录", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="assistant.index.records"):
        store = RecordStore(tmp_path)
    assert [r.id for r in store.visible(None)] == ["T-1"]
    assert store.get("T-1", None).custom_field == "保留"  # unknown fields are kept
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "broken.yaml" in warned and "no-stage.yaml" in warned and "z-dup.yaml" in warned


def test_workflow_order_next_stage_and_aliases(admin_ctx):
    flow = admin_ctx.workflow
    assert flow.order == STAGES
    assert [flow.next_stage(s) for s in STAGES] == STAGES[1:] + [None]
    for alias in ("立项", "立项阶段", "项目立项", "联动创新项目立项", " 立项 "):
        assert flow.resolve_stage(alias) == "立项"
    with pytest.raises(UnknownStageError) as err:
        flow.resolve_stage("验收")
    assert err.value.valid == STAGES


def test_every_workflow_reference_resolves_to_an_indexed_chunk(admin_ctx):
    flow = admin_ctx.workflow
    refs = [r for s in flow.stages for r in s.refs] + [r for t in flow.tracking for r in t.refs]
    refs += [r for g in flow.gates for q in g.requirements for r in q.clauses]
    cite = Citer(admin_ctx)
    for ref in dict.fromkeys(refs):
        hits = admin_ctx.index.find(ref.doc, clause_title=ref.section)
        assert hits, f"{ref.doc} {ref.section} 不在索引中"
        citation = cite(ref)
        assert citation.quote and citation.quote.removesuffix("…") in hits[0].text
        assert ref.section in citation.citation


def test_explain_stage_gives_activities_deliverables_gates_and_citations(admin_ctx):
    info = explain_stage(admin_ctx, "项目立项")
    assert (info.id, info.position, info.previous_stage, info.next_stage) == ("立项", 3, "评估", "实施")
    assert {d.name for d in info.deliverables} == {"立项批复", "标准化路径", "专利信息披露", "专利许可声明"}
    assert [r.id for r in info.entry_requirements][:2] == ["R-INIT-TECH", "R-INIT-IPSEARCH"]
    assert {r.id for r in info.exit_requirements} == {"R-IMPL-APPROVAL", "R-IMPL-STDPATH", "R-IMPL-DISCLOSURE", "R-IMPL-LICENSING"}
    licensing = next(r for r in info.exit_requirements if r.id == "R-IMPL-LICENSING")
    assert licensing.applies_to == "有专利可能进入目标标准的项目"
    assert licensing.deliverables[0].name == "专利许可声明"
    assert licensing.clauses[0].citation == "GB/T 20003.1-2014（摘要） 许可声明"
    assert all(c.quote for c in info.refs) and info.activities
    first = explain_stage(admin_ctx, "构思")
    assert first.entry_requirements == [] and first.previous_stage is None
    assert explain_stage(admin_ctx, "评价改进").exit_requirements == []
    with pytest.raises(UnknownStageError):
        explain_stage(admin_ctx, "中试")


@pytest.mark.parametrize(
    "change, problem",
    [
        (("to: 评估", "to: 验收"), "验收"),
        (("evidence: [concept_brief]", "evidence: [concept_memo]"), "concept_memo"),
        (("when: always", "when: sometimes"), "when"),
    ],
)
def test_a_broken_workflow_file_is_a_clear_load_error(tmp_path, change, problem):
    text = (SHIPPED_CORPUS / "workflow.yaml").read_text(encoding="utf-8")
    assert change[0] in text
    broken = tmp_path / "workflow.yaml"
    broken.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(DocumentLoadError) as err:
        load_workflow(broken)
    assert problem in str(err.value)


def test_cli_projects_list_filter_and_show(cli):
    listed = cli("projects", "--json")
    assert listed.exit_code == 0, listed.output
    projects = json.loads(listed.stdout)["projects"]
    assert [p["id"] for p in projects] == SHIPPED_IDS
    assert all(set(p) == {"id", "name", "stage", "department"} for p in projects)
    staged = json.loads(cli("projects", "--stage", "立项阶段", "--json").stdout)["projects"]
    assert [p["id"] for p in staged] == ["P-2025-004"]
    table = cli("projects")
    assert table.exit_code == 0 and "P-2025-007" in table.stdout and "部门" in table.stdout
    shown = cli("projects", "show", "P-2025-004", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["patents"][2]["number"] == "CN202010785316.9"
    human = cli("projects", "show", "P-2025-004")
    assert human.exit_code == 0 and "华充新能源科技股份有限公司" in human.stdout and "CN202010785316.9" in human.stdout


def test_cli_projects_errors_exit_2_with_valid_values(cli):
    unknown = cli("projects", "show", "P-9")
    assert unknown.exit_code == 2
    assert "P-2025-001" in unknown.stderr and "Traceback" not in unknown.output
    bad_stage = cli("projects", "--stage", "落地")
    assert bad_stage.exit_code == 2 and "评价改进" in bad_stage.stderr
    mine = json.loads(cli("projects", "--json", "--as-groups", MATERIALS_GROUP).stdout)["projects"]
    assert [p["id"] for p in mine] == ["P-2025-002"]
    hidden = cli("projects", "show", "P-2025-001", "--as-groups", MATERIALS_GROUP)
    assert hidden.exit_code == 2 and "P-2025-002" in hidden.stderr and "P-2025-003" not in hidden.stderr


def test_record_overview_labels_the_parts_of_its_target_standard(admin_ctx):
    """Users ask for a part ("哪个组织", "什么路线"): each part of the target standard is labelled."""
    from assistant.ingest.records import record_document

    record = admin_ctx.records.get("P-2025-003", None)
    _, lines = record_document(record)
    target = next(line.text for line in lines if line.text.startswith("目标标准："))
    assert "标准化组织：工业互联网产业联盟" in target and "标准化路线：团体标准→行业标准" in target
    assert "《工业互联网标识解析 二级节点轻量化解析协议技术要求》" in target


def test_a_record_table_writes_yes_no_fields_as_a_chinese_reader_does(admin_ctx):
    """The patents table's 涉及目标标准 column says 是/否, never Python's True/False."""
    from assistant.ingest.records import record_document

    _, lines = record_document(admin_ctx.records.get("P-2025-001", None))
    rows = [line.text for line in lines if line.table and "CN202211402637.5" in line.text or "CN202410215873.6" in line.text]
    assert rows == ["| CN202211402637.5 | 基于业务负载预测的基站载波智能关断方法及装置 | 已授权 | 本公司 | 是 |",
                    "| CN202410215873.6 | 基站节能策略效果的离线评估方法 | 已受理 | 本公司 | 否 |"]
    assert not any("True" in line.text or "False" in line.text for line in lines)

"""Stage readiness: every sample project gets the verdict it was designed for, with cited clauses."""

from __future__ import annotations

import json

import pytest

from assistant.errors import LinkageError, UnknownProjectError, UnknownStageError
from assistant.settings import SHIPPED_CORPUS
from assistant.tools.context import ToolContext, User
from assistant.tools.readiness import check_readiness
from assistant.tools.records import RecordStore

# project → (target stage, ready, the items that are not met and their status)
EXPECTED = {
    "P-2025-001": ("立项", True, {}),
    "P-2025-002": ("立项", False, {"R-INIT-IPSEARCH": "missing", "R-INIT-MATURITY": "partial"}),
    "P-2025-003": ("成果运用", True, {}),
    "P-2025-004": ("实施", False, {"R-IMPL-LICENSING": "missing"}),
    "P-2025-005": ("评估", True, {}),
    "P-2025-006": ("评价改进", False, {"R-EVAL2-REPORT": "partial"}),
    "P-2025-007": (
        "立项",
        False,
        {"R-INIT-PROPOSAL": "partial", "R-INIT-FEASIBILITY": "missing", "R-INIT-BUDGET": "missing", "R-INIT-TEAM": "missing"},
    ),
}


def test_the_table_covers_every_shipped_record():
    assert sorted(EXPECTED) == sorted(p.stem for p in (SHIPPED_CORPUS / "records").glob("*.yaml"))


@pytest.mark.parametrize("project_id", sorted(EXPECTED))
def test_each_sample_project_gets_its_designed_verdict(admin_ctx, project_id):
    target, ready, unmet = EXPECTED[project_id]
    report = check_readiness(admin_ctx, project_id)
    assert (report.target_stage, report.ready) == (target, ready)
    assert {i.id: i.status for i in report.items if i.status != "met"} == unmet
    assert len(report.next_actions) == len(unmet)
    gate = {r.id for r in admin_ctx.workflow.gate(target)}
    assert {i.id for i in report.items} <= gate and report.items


def test_json_contract(admin_ctx):
    payload = json.loads(json.dumps(check_readiness(admin_ctx, "P-2025-002").model_dump(), ensure_ascii=False))
    assert set(payload) == {"project_id", "current_stage", "target_stage", "ready", "items", "next_actions"}
    assert (payload["project_id"], payload["current_stage"], payload["target_stage"]) == ("P-2025-002", "评估", "立项")
    assert payload["ready"] is False and all(isinstance(a, str) for a in payload["next_actions"])
    for item in payload["items"]:
        assert set(item) == {"id", "requirement", "status", "evidence", "clauses"}
        assert item["status"] in ("met", "partial", "missing") and item["evidence"] and item["clauses"]
        for clause in item["clauses"]:
            assert set(clause) == {"doc_id", "section", "citation", "quote"}


def test_quotes_are_verbatim_from_the_indexed_clause(admin_ctx):
    report = check_readiness(admin_ctx, "P-2025-003")
    clauses = [c for item in report.items for c in item.clauses]
    assert len(clauses) >= 10
    for clause in clauses:
        chunk = admin_ctx.index.find(clause.doc_id, clause_title=clause.section)[0]
        assert clause.quote and clause.quote.removesuffix("…") in chunk.text
        assert clause.citation == chunk.citation


def test_evidence_text_and_next_actions_name_deliverable_and_clause(admin_ctx):
    report = check_readiness(admin_ctx, "P-2025-002")
    items = {i.id: i for i in report.items}
    assert "知识产权检索/专利导航报告" in items["R-INIT-IPSEARCH"].evidence
    assert "草稿" in items["R-INIT-MATURITY"].evidence and "2025-04-15" in items["R-INIT-MATURITY"].evidence
    search, maturity = report.next_actions
    assert "《知识产权检索/专利导航报告》" in search and "GB/T 39551.5-2020（摘要） 立项前知识产权检索" in search
    assert "《成熟度与标准需求评估》" in maturity and "草稿" in maturity and "GB/T 33450-2016（摘要） 转化条件" in maturity


def test_conditions_come_from_the_record(admin_ctx):
    no_standard = {i.id for i in check_readiness(admin_ctx, "P-2025-007").items}
    assert "R-INIT-MATURITY" not in no_standard and "R-INIT-IPPLAN" in no_standard
    patents_on_standard = {i.id for i in check_readiness(admin_ctx, "P-2025-004").items}
    assert {"R-IMPL-DISCLOSURE", "R-IMPL-LICENSING", "R-IMPL-STDPATH"} <= patents_on_standard
    # P-2025-005 targets a standard but its only patent does not read on it.
    later = {i.id for i in check_readiness(admin_ctx, "P-2025-005", "实施").items}
    assert "R-IMPL-STDPATH" in later and "R-IMPL-DISCLOSURE" not in later


def test_a_target_several_stages_ahead_includes_every_gate_in_between(admin_ctx):
    report = check_readiness(admin_ctx, "P-2025-005", "立项阶段")
    ids = [i.id for i in report.items]
    assert report.target_stage == "立项" and not report.ready
    assert ids[0] == "R-EVAL-CONCEPT" and "R-INIT-TECH" in ids and "R-INIT-MATURITY" in ids
    assert dict((i.id, i.status) for i in report.items)["R-EVAL-CONCEPT"] == "met"
    assert len(report.next_actions) == sum(i.status != "met" for i in report.items)
    three_ahead = check_readiness(admin_ctx, "P-2025-001", "成果运用")
    assert {"R-INIT-TECH", "R-IMPL-APPROVAL", "R-APPL-ACCEPT"} <= {i.id for i in three_ahead.items}


def test_the_check_is_deterministic(admin_ctx):
    assert check_readiness(admin_ctx, "P-2025-007").model_dump() == check_readiness(admin_ctx, "P-2025-007").model_dump()


def test_unknown_project_and_stage_list_the_valid_values(admin_ctx):
    with pytest.raises(UnknownProjectError) as project:
        check_readiness(admin_ctx, "P-2030-001")
    assert project.value.valid == sorted(EXPECTED) and "P-2025-004" in str(project.value)
    with pytest.raises(UnknownStageError) as stage:
        check_readiness(admin_ctx, "P-2025-001", "量产")
    assert stage.value.valid == admin_ctx.workflow.order and "成果运用" in str(stage.value)
    with pytest.raises(LinkageError, match="目标阶段须在其之后.*实施"):
        check_readiness(admin_ctx, "P-2025-004", "评估")


def test_records_outside_the_users_groups_cannot_be_checked(admin_ctx):
    outsider = admin_ctx.for_user(User(name="guest", groups=["材料学院课题组"]))
    with pytest.raises(UnknownProjectError) as err:
        check_readiness(outsider, "P-2025-001")
    assert err.value.valid == ["P-2025-002"]
    assert check_readiness(outsider, "P-2025-002").project_id == "P-2025-002"


@pytest.mark.parametrize(
    "status, expected",
    [("完成", "met"), ("草稿", "partial"), ("进行中", "partial"), (None, "missing")],
)
def test_evidence_status_maps_to_item_status(tmp_path, shipped_settings, shipped_index, status, expected):
    evidence = f"evidence:\n  - {{type: concept_brief, title: 构思说明, status: {status}}}\n" if status else ""
    (tmp_path / "T-1.yaml").write_text(f"id: T-1\nname: 测试项目\nstage: 构思\naccess: [测试组]\n{evidence}", encoding="utf-8")
    ctx = ToolContext(shipped_settings, _index=shipped_index, _records=RecordStore(tmp_path))
    report = check_readiness(ctx, "T-1")
    assert [(i.id, i.status) for i in report.items] == [("R-EVAL-CONCEPT", expected)]
    assert report.ready is (expected == "met")


def test_a_project_at_the_last_stage_has_nothing_to_check(tmp_path, shipped_settings, shipped_index):
    (tmp_path / "T-9.yaml").write_text("id: T-9\nname: 收尾项目\nstage: 项目评价改进\n", encoding="utf-8")
    ctx = ToolContext(shipped_settings, _index=shipped_index, _records=RecordStore(tmp_path))
    with pytest.raises(LinkageError, match="最后一个阶段"):
        check_readiness(ctx, "T-9")


def test_cli_check_json_and_checklist(cli):
    result = cli("check", "P-2025-004", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["ready"] is False and payload["target_stage"] == "实施"
    human = cli("check", "P-2025-002")
    assert human.exit_code == 0, human.output
    assert "✗ 缺少" in human.stdout and "◐ 部分" in human.stdout and "✓ 满足" in human.stdout  # no emoji: terminals without an emoji font show boxes
    assert "下一步" in human.stdout and "未就绪" in human.stdout
    ready = cli("check", "P-2025-005", "--stage", "评估阶段")
    assert ready.exit_code == 0 and "就绪" in ready.stdout and "未就绪" not in ready.stdout


def test_cli_check_errors_exit_2(cli):
    unknown = cli("check", "P-404")
    assert unknown.exit_code == 2 and "P-2025-001" in unknown.stderr and "Traceback" not in unknown.output
    assert len(unknown.stderr.strip().splitlines()) == 1
    stage = cli("check", "P-2025-001", "--stage", "量产")
    assert stage.exit_code == 2 and "评价改进" in stage.stderr
    hidden = cli("check", "P-2025-001", "--as-groups", "材料学院课题组", "--json")
    assert hidden.exit_code == 2 and hidden.stdout == ""

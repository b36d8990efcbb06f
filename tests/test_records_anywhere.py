"""Records from anywhere they are indexed: a YAML record in any folder and the rows of a project
ledger (XLSX or CSV) are records for `projects`, `check` and `draft`, filtered by access groups."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from assistant.errors import UnknownProjectError
from assistant.index import KnowledgeIndex
from assistant.settings import Settings, get_settings
from assistant.tools.context import ToolContext, User
from assistant.tools.readiness import check_readiness
from assistant.tools.records import get_project, list_projects

LEDGER_HEADER = ["项目编号", "项目名称", "当前阶段", "部门", "查阅分组", "专利号", "总预算（万元）", "备注"]


def _write_ledger(path: Path) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "台账"
    sheet.append(LEDGER_HEADER)
    sheet.append(["L-2026-001", "边缘计算网关联动项目", "评估", "研发部", "研发部、标准化部", "CN202610000001.1，CN202610000002.X", 80, "好行"])
    sheet.append(["L-2026-002", None, "立项", "研发部", "研发部", None, None, "缺名称"])
    sheet.append(["L-2026-003", "预算写错的项目", "构思", "研发部", "研发部", None, "很多", "预算不是数"])
    sheet.append(["L-2026-001", "重复编号的项目", "构思", "研发部", "研发部", None, None, "重复"])
    sheet.append([None] * len(LEDGER_HEADER))
    sheet.append(["L-2026-004", "低功耗传感联动项目", "立项", "标准化部", "标准化部", None, 35.5, "好行"])
    workbook.save(str(path))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("incoming")
    (folder / "sub").mkdir()
    (folder / "sub" / "Y-1.yaml").write_text(
        "id: Y-1\nname: 外部文件夹里的项目\nstage: 评估\naccess: [外部组]\n"
        "evidence:\n  - {type: patent_search_report, title: 检索报告, status: 完成}\n",
        encoding="utf-8",
    )
    _write_ledger(folder / "项目台账.xlsx")
    (folder / "台账-GBK.csv").write_bytes(
        "项目编号,项目名称,当前阶段,查阅分组\nC-1,编码检测项目,构思,研发部\n".encode("gbk")
    )
    table = openpyxl.Workbook()
    table.active.append(["等级", "含义"])
    table.active.append(["1～3", "原理与概念验证"])
    table.save(str(folder / "成熟度表.xlsx"))
    return folder


@pytest.fixture(scope="module")
def indexed(folder, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("records-data"), embedding_backend="hashing", _env_file=None)
    index = KnowledgeIndex(settings)
    report = index.sync([folder])
    return settings, index, report


@pytest.fixture
def ctx(indexed) -> ToolContext:
    settings, index, _ = indexed
    return ToolContext(settings, _index=index)


def test_a_record_in_any_indexed_folder_is_a_project(ctx):
    ids = [p.id for p in list_projects(ctx)]
    assert "Y-1" in ids and "P-2025-001" in ids  # the indexed folder and the shipped records
    assert get_project(ctx, "Y-1").name == "外部文件夹里的项目"
    report = check_readiness(ctx, "Y-1")
    assert report.project_id == "Y-1"


def test_indexed_records_keep_their_access_groups(ctx):
    outsider = ctx.for_user(User(name="x", groups=["别的组"]))
    assert "Y-1" not in [p.id for p in list_projects(outsider)]
    with pytest.raises(UnknownProjectError):
        get_project(outsider, "Y-1")
    member = ctx.for_user(User(name="m", groups=["外部组"]))
    assert [p.id for p in list_projects(member)] == ["Y-1"]


def test_ledger_rows_become_records_and_bad_rows_get_one_line_each(ctx, indexed):
    _, _, report = indexed
    ledger_lines = [str(e) for e in report.errors if e.path.endswith("项目台账.xlsx")]
    assert len(ledger_lines) == 3
    assert any("第 3 行" in line and "项目名称" in line for line in ledger_lines)
    assert any("第 4 行" in line and "总预算（万元）" in line and "格式不正确" in line for line in ledger_lines)
    assert any("第 5 行" in line and "重复" in line for line in ledger_lines)
    assert all("\n" not in line for line in ledger_lines)
    good = get_project(ctx, "L-2026-001")
    assert good.access == ["研发部", "标准化部"] and [p.number for p in good.patents] == ["CN202610000001.1", "CN202610000002.X"]
    assert good.budget.total_wan == 80
    assert get_project(ctx, "L-2026-004").budget.total_wan == 35.5
    for missing in ("L-2026-002", "L-2026-003"):
        with pytest.raises(UnknownProjectError):
            get_project(ctx, missing)


def test_ledger_rows_are_searchable_as_records(ctx):
    hits = ctx.index.find("L-2026-004")
    assert hits and hits[0].source == "record" and "低功耗传感联动项目" in hits[0].text


def test_a_gbk_csv_ledger_is_read_with_its_detected_encoding(ctx):
    assert get_project(ctx, "C-1").name == "编码检测项目"


def test_a_spreadsheet_that_is_not_a_ledger_is_a_table_document(ctx):
    hits = [h for h in ctx.index.search("原理与概念验证", k=5) if h.source_file.endswith("成熟度表.xlsx")]
    assert hits and "| 1～3 | 原理与概念验证 |" in hits[0].text


def test_bad_rows_are_reported_again_on_the_next_run(indexed, folder):
    _, index, _ = indexed
    report = index.sync()
    assert len([e for e in report.errors if e.path.endswith("项目台账.xlsx")]) == 3


def test_linkage_check_sees_a_record_from_an_indexed_folder(indexed, monkeypatch):
    from assistant.surfaces.cli import app

    settings, _, _ = indexed
    monkeypatch.setenv("LINKAGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LINKAGE_EMBEDDING_BACKEND", "hashing")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["check", "Y-1", "--json"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["project_id"] == "Y-1"


def test_a_record_file_deleted_after_indexing_costs_only_that_record(tmp_path, caplog):
    """Indexed, then deleted (or its folder moved) without a re-index: the other records still
    serve, and the log says which file is gone and what to run — no traceback for the user."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    record = folder / "Z-1.yaml"
    record.write_text("id: Z-1\nname: 会被删掉的项目\nstage: 构思\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", embedding_backend="hashing", _env_file=None)
    index = KnowledgeIndex(settings)
    assert not index.sync([folder]).errors
    record.unlink()
    ids = [p.id for p in list_projects(ToolContext(settings, _index=index))]
    assert "Z-1" not in ids and "P-2025-001" in ids
    assert "Z-1.yaml" in caplog.text and "linkage index" in caplog.text

"""Drafted 立项 documents: real Word files, filled only from the record and cited clauses."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from docx import Document

from assistant.errors import UnknownProjectError
from assistant.settings import SHIPPED_CORPUS
from assistant.tools.context import ToolContext, User
from assistant.tools.drafting import UnknownDraftKindError, draft_proposal, verify_no_invented_facts
from assistant.tools.records import RecordStore, get_project

TODAY = date(2025, 11, 20)
LINKAGE = "联动创新项目立项建议书"
GROUP_STANDARD = "团体标准项目建议书"
# The nine feasibility items, then the two linkage additions, then the sources.
LINKAGE_HEADINGS = [
    "项目概况与国内外研究进展", "需求分析与预期效益", "研究内容与关键技术", "项目目标", "知识产权现状与计划",
    "现有工作基础和条件", "实施方案与进度安排", "经费预算", "人员安排", "专利布局", "标准化路径", "依据", "待补充事项清单",
]
GROUP_STANDARD_HEADINGS = [
    "项目名称", "制定或修订", "目的意义", "范围和主要技术内容", "国内外情况", "与现行法律法规和标准的关系",
    "涉及专利的情况", "起草单位", "进度安排", "依据", "待补充事项清单",
]
FOREWORD = "请注意本文件的某些内容可能涉及专利。本文件的发布机构不承担识别专利的责任。"  # GB/T 1.1-2020, verbatim
INTRODUCTION = "本文件的发布机构提请注意，声明符合本文件时，可能涉及以下专利的使用："
CORPUS_TEXTS = [p.read_text(encoding="utf-8") for p in sorted(SHIPPED_CORPUS.rglob("*")) if p.suffix in (".md", ".txt")]


def _open(content: bytes):
    return Document(io.BytesIO(content))


def _headings(word) -> list[str]:
    return [p.text for p in word.paragraphs if p.style.name == "Heading 1"]


def plain(text: str) -> str:
    """Draft text as a reader copies it: the no-break spaces and word joiners that keep numbers whole undone."""
    return text.replace("\u00a0", " ").replace("\u2060", "")


def _all_text(word) -> str:
    cells = [cell.text for table in word.tables for row in table.rows for cell in row.cells]
    return plain("\n".join([p.text for p in word.paragraphs] + cells))


def _cover(word) -> str:
    """The title page: everything before the table of contents."""
    texts = [p.text for p in word.paragraphs]
    return "\n".join(texts[: texts.index("目　　录")])


def _section(word, keyword: str) -> str:
    """Text of the paragraphs under the heading containing ``keyword`` (tables excluded)."""
    lines, inside = [], False
    for p in word.paragraphs:
        if p.style.name == "Heading 1":
            inside = keyword in p.text
        elif inside:
            lines.append(plain(p.text))
    return "\n".join(lines)


def _table(word, first_header: str) -> list[list[str]]:
    matches = [t for t in word.tables if t.rows[0].cells[0].text == first_header]
    assert matches, f"没有以“{first_header}”开头的表格"
    return [[plain(c.text) for c in row.cells] for row in matches[0].rows]


@pytest.fixture
def p1_docx(admin_ctx):
    return draft_proposal(admin_ctx, "P-2025-001", LINKAGE, "docx", today=TODAY)


def test_linkage_proposal_is_a_real_word_file_with_the_expected_structure(p1_docx, admin_ctx):
    assert p1_docx.filename == "P-2025-001-联动创新项目立项建议书.docx"
    assert p1_docx.media_type.endswith("wordprocessingml.document")
    word = _open(p1_docx.content)
    headings = _headings(word)
    assert len(headings) == len(LINKAGE_HEADINGS)
    assert all(expected in actual for expected, actual in zip(LINKAGE_HEADINGS, headings)), headings
    front = _cover(word)
    record = get_project(admin_ctx, "P-2025-001")
    for value in (record.name, LINKAGE, record.organization, record.department, "2025-11-20", "本稿由联动助手根据项目记录生成，需人工核对"):
        assert value in front


def test_tables_come_from_the_record(p1_docx, admin_ctx):
    record = get_project(admin_ctx, "P-2025-001")
    word = _open(p1_docx.content)
    budget = _table(word, "科目")
    assert budget[1:-1] == [[i.item, f"{i.wan:g}"] for i in record.budget.items]
    assert budget[-1] == ["合计", "380"]
    assert _table(word, "里程碑")[1:] == [[m.name, m.due, m.status] for m in record.milestones]
    assert [row[0] for row in _table(word, "专利号/申请号")[1:]] == [p.number for p in record.patents]
    assert [row[0] for row in _table(word, "标准号")[1:]] == [s.number for s in record.related_standards]
    assert [row[0] for row in _table(word, "姓名")[1:]] == [m.name for m in record.team]


def test_patent_notices_follow_the_target_standard_and_its_identified_patents(admin_ctx):
    """前言 notice whenever a standard is aimed at; the 引言 notice only when patents on it are identified."""
    for project_id, foreword, introduction in (
        ("P-2025-001", True, True), ("P-2025-004", True, True), ("P-2025-005", True, False), ("P-2025-007", False, False),
    ):
        text = draft_proposal(admin_ctx, project_id, LINKAGE, "md", today=TODAY).text
        assert (FOREWORD in text, INTRODUCTION in text) == (foreword, introduction), project_id


def test_sparse_record_gets_placeholders_not_inventions(admin_ctx):
    result = draft_proposal(admin_ctx, "P-2025-007", LINKAGE, "docx", today=TODAY)
    word = _open(result.content)
    assert "【待补充" in _section(word, "经费预算") and "【待补充" in _section(word, "人员安排")
    assert "项目记录未设定目标标准" in _section(word, "标准化路径")
    assert not [t for t in word.tables if t.rows[0].cells[0].text in ("科目", "姓名")]
    assert any("经费预算" in m for m in result.missing) and any("团队" in m for m in result.missing)
    placeholders = re.findall(r"【待补充：([^】]+)】", _all_text(word))
    assert set(placeholders) == set(result.missing)
    rich = draft_proposal(admin_ctx, "P-2025-001", LINKAGE, "docx", today=TODAY)
    assert "【待补充" not in _section(_open(rich.content), "经费预算")


def test_group_standard_proposal_structure_and_patent_section(admin_ctx):
    result = draft_proposal(admin_ctx, "P-2025-004", GROUP_STANDARD, "docx", today=TODAY)
    word = _open(result.content)
    headings = _headings(word)
    assert len(headings) == len(GROUP_STANDARD_HEADINGS)
    assert all(expected in actual for expected, actual in zip(GROUP_STANDARD_HEADINGS, headings)), headings
    record = get_project(admin_ctx, "P-2025-004")
    patents = _table(word, "专利号/申请号")
    assert [row[0] for row in patents[1:]] == [p.number for p in record.patents_on_standard]
    assert all(row[3] == "第三方" for row in patents[1:])
    patent_section = _section(word, "涉及专利的情况")
    assert FOREWORD in patent_section.splitlines() and "目标标准涉及第三方专利的信息披露表" in patent_section
    assert "【待补充：专利权人的许可声明】" in patent_section  # no licensing declaration in the record
    assert record.target_standard.title in _section(word, "项目名称")
    # the cover names the proposed standard, its level and a number placeholder, not the project
    cover = _cover(word)
    assert word.paragraphs[[p.text for p in word.paragraphs].index(record.target_standard.title)].style.name == "Title"
    assert "团体标准" in cover and "T/×××× ×××—××××" in cover
    # the related standards are one table, not two
    assert len([t for t in word.tables if t.rows[0].cells[0].text == "标准号"]) == 1


def test_a_draft_for_another_level_is_flagged_for_review(admin_ctx):
    result = draft_proposal(admin_ctx, "P-2025-002", GROUP_STANDARD, "md", today=TODAY)
    assert "【待核对：项目记录中的目标标准层级为“行业标准”" in result.text
    assert any(m.startswith("核对文稿类型") for m in result.missing)


def test_sources_section_lists_cited_clauses_with_verbatim_quotes(p1_docx, admin_ctx):
    doc_ids = re.findall(r"^doc_id: (\S+)$", "\n".join(CORPUS_TEXTS), flags=re.M)
    chunks = {h.citation: h.text for doc_id in doc_ids for h in reversed(admin_ctx.index.find(doc_id))}
    sources = [line for line in _section(_open(p1_docx.content), "依据").splitlines() if line]
    assert len(sources) >= 5
    for line in sources:
        citation, quote = re.fullmatch(r"(.+?)：“(.+)”", line).groups()
        assert citation in chunks, citation
        assert quote.removesuffix("…") in chunks[citation]


@pytest.mark.parametrize("project_id", ["P-2025-001", "P-2025-004", "P-2025-006", "P-2025-007"])
@pytest.mark.parametrize("kind", [LINKAGE, GROUP_STANDARD])
def test_no_numbers_absent_from_record_and_corpus(admin_ctx, project_id, kind):
    result = draft_proposal(admin_ctx, project_id, kind, "docx", today=TODAY)
    text = _all_text(_open(result.content))
    record = get_project(admin_ctx, project_id)
    assert verify_no_invented_facts(text, record, [*CORPUS_TEXTS, TODAY.isoformat()]) == []
    # The same, checked directly: patent and standard numbers, and every amount in the budget table.
    corpus = "\n".join(CORPUS_TEXTS)
    assert set(re.findall(r"CN\d{12}\.\d|PCT/CN\d{4}/\d{6}", text)) <= {p.number for p in record.patents}
    standards = set(re.findall(r"(?:GB/[TZ]|GB|[A-Z]{2}/T|T/[A-Z]+) ?\d+(?:\.\d+)*-\d{4}", text))
    known = {s.number for s in record.related_standards}
    assert all(s in known or s in corpus for s in standards), standards - known
    word = _open(result.content)
    budget = [t for t in word.tables if t.rows[0].cells[0].text == "科目"]
    if budget:
        amounts = {row.cells[1].text for row in budget[0].rows[1:]}
        assert amounts <= {f"{w:g}" for w in [record.budget.total_wan, *(i.wan for i in record.budget.items)]}


def test_verify_flags_invented_facts_and_accepts_known_ones(admin_ctx):
    record = get_project(admin_ctx, "P-2025-001")
    known = (
        "专利ZL202211402637.5和PCT/CN2024/073528，参照GB/T 20003.1—2014和3GPP TS 28.310，"
        "总预算380万元（设备费120万元），2025年6月15日立项评审，2026年底前验收。"
    )
    assert verify_no_invented_facts(known, record, CORPUS_TEXTS) == []
    invented = "另有专利CN202499999999.1，对标GB/T 99999-2030，追加预算450万元，2027年3月完成，2031年推广。"
    assert verify_no_invented_facts(invented, record, CORPUS_TEXTS) == [
        "CN202499999999.1", "GB/T 99999-2030", "2027年3月", "2031年", "450万元",
    ]
    assert verify_no_invented_facts("引用GB/T 20003.1-2014。", record, []) == ["GB/T 20003.1-2014"]


def test_markdown_has_the_same_content(admin_ctx, p1_docx):
    md = draft_proposal(admin_ctx, "P-2025-001", LINKAGE, "md", today=TODAY)
    assert md.media_type.startswith("text/markdown") and md.filename.endswith(".md")
    assert md.content.decode("utf-8") == md.text == p1_docx.text
    assert re.findall(r"^## (.+)$", md.text, flags=re.M) == _headings(_open(p1_docx.content))
    assert "| 合计 | 380 |" in md.text and md.missing == p1_docx.missing


def _ctx_with_record(tmp_path, settings, index, yaml_text: str) -> ToolContext:
    (tmp_path / "T-1.yaml").write_text("id: T-1\nname: 预算测试项目\nstage: 评估\n" + yaml_text, encoding="utf-8")
    return ToolContext(settings, _index=index, _records=RecordStore(tmp_path))


def test_budget_total_is_taken_from_the_record_never_computed(tmp_path, shipped_settings, shipped_index):
    items = "budget:\n  items:\n    - {item: 设备费, wan: 60}\n    - {item: 劳务费, wan: 30}\n    - {item: 差旅费}\n"
    ctx = _ctx_with_record(tmp_path, shipped_settings, shipped_index, items)
    text = draft_proposal(ctx, "T-1", LINKAGE, "md", today=TODAY).text
    assert "| 合计 | 【待补充：经费预算（万元）的合计】 |" in text and "| 合计 | 90 |" not in text
    assert "| 差旅费 | 【待补充：经费预算（万元）中的金额（万元）】 |" in text
    assert "【待补充：承担单位】" in text  # the record names no organization


def test_budget_mismatch_is_flagged_for_review(tmp_path, shipped_settings, shipped_index):
    budget = "budget:\n  total_wan: 100\n  items:\n    - {item: 设备费, wan: 60}\n    - {item: 劳务费, wan: 30}\n"
    ctx = _ctx_with_record(tmp_path, shipped_settings, shipped_index, budget)
    result = draft_proposal(ctx, "T-1", LINKAGE, "md", today=TODAY)
    assert "| 合计 | 100 |" in result.text
    assert "【待核对：经费预算（万元）：分项之和与合计不一致】" in result.text
    assert "核对经费预算（万元）：分项之和与合计不一致" in result.missing


def test_unknown_kind_format_and_invisible_project_are_refused(admin_ctx):
    with pytest.raises(UnknownDraftKindError) as kind:
        draft_proposal(admin_ctx, "P-2025-001", "可行性报告")
    assert kind.value.valid == [LINKAGE, GROUP_STANDARD] and GROUP_STANDARD in str(kind.value)
    with pytest.raises(ValueError, match="docx、pdf、md"):
        draft_proposal(admin_ctx, "P-2025-001", fmt="odt")
    outsider = admin_ctx.for_user(User(name="guest", groups=["材料学院课题组"]))
    with pytest.raises(UnknownProjectError) as hidden:
        draft_proposal(outsider, "P-2025-001")
    assert hidden.value.valid == ["P-2025-002"]


def test_cli_draft_writes_word_and_markdown(cli, tmp_path):
    target = tmp_path / "p4.docx"
    result = cli("draft", "P-2025-004", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "液冷充电" in _cover(_open(target.read_bytes()))
    assert "待补充" in result.stderr
    md = cli("draft", "P-2025-004", "--kind", GROUP_STANDARD, "--format", "md", "-o", "-")
    assert md.exit_code == 0, md.output
    assert md.stdout.startswith("# 电动汽车大功率液冷充电连接装置技术要求") and "## 七、涉及专利的情况" in md.stdout


def test_cli_draft_errors_exit_2(cli, tmp_path):
    unknown = cli("draft", "P-404", "-o", str(tmp_path / "x.docx"))
    assert unknown.exit_code == 2 and "P-2025-007" in unknown.stderr and not (tmp_path / "x.docx").exists()
    kind = cli("draft", "P-2025-001", "--kind", "报告")
    assert kind.exit_code == 2 and GROUP_STANDARD in kind.stderr
    hidden = cli("draft", "P-2025-001", "--as-groups", "材料学院课题组", "-o", str(tmp_path / "y.docx"))
    assert hidden.exit_code == 2 and not (tmp_path / "y.docx").exists()

"""The clause splitter on every numbering style it claims to understand."""

from assistant.ingest.loaders import unwrap_lines
from assistant.ingest.models import DocumentMeta, LoadedDocument, Line
from assistant.ingest.splitter import parse_heading, split_document


def _doc(lines: list[Line]) -> LoadedDocument:
    return LoadedDocument(DocumentMeta(doc_id="d", title="测试文档", standard="GB/T 1-2020", year=2020, source="standard"), lines, "d.txt")


def _chunks(texts: list[str], **kwargs):
    return split_document(_doc([Line(t) for t in texts]), **kwargs)


def test_chinese_outline_numbering_is_nested_into_clause_ids():
    chunks = _chunks([
        "一、工作简况", "1、任务来源", "本标准由研究会立项。",
        "二、主要内容", "（一）编制原则", "遵循先进性原则。", "（1）细则", "细则内容在此。",
        "2、论据", "论据内容在此。",
    ])
    assert [(c.clause, c.clause_title) for c in chunks] == [
        ("一、1", "任务来源"), ("二、（一）", "编制原则"), ("二、（一）（1）", "细则"), ("二、（一）2", "论据"),
    ]
    assert chunks[0].clause_path == "一、 工作简况 > 1、 任务来源"


def test_dotted_clauses_chapters_and_appendices():
    chunks = _chunks([
        "第一章 总则", "总则正文。",
        "5 要求", "5.2 披露", "5.2.1 披露时机", "应尽早披露。", "5.3 许可声明", "三选一。",
        "附录 A （规范性） 专利信息披露表", "表格说明。", "A.1 填写要求", "逐项填写。",
        "附录B 许可声明表", "声明表说明。",
    ])
    assert [c.clause for c in chunks] == ["第一章", "5.2.1", "5.3", "附录A", "A.1", "附录B"]
    assert chunks[1].clause_path == "第一章 总则 > 5 要求 > 5.2 披露 > 5.2.1 披露时机"
    assert chunks[3].clause_path == "附录A 专利信息披露表"
    assert chunks[4].clause_path == "附录A 专利信息披露表 > A.1 填写要求"
    assert chunks[3].clause_title == "专利信息披露表"


def test_body_lines_that_look_like_numbers_are_not_headings():
    assert parse_heading("2024 年 2 月，本标准获得正式立项。") is None
    assert parse_heading("1、参与者应当披露其拥有的必要专利，并提供证明材料。") is None
    assert parse_heading("3.5 %的样本合格") is None
    assert parse_heading("5.2.1 披露时机").label == "5.2.1"


def test_markdown_style_headings_without_numbers_keep_their_titles():
    lines = [Line("许可声明", heading_level=2), Line("专利权人从三种选项中选择其一。"), Line("3.2 必要专利", heading_level=2), Line("定义。")]
    chunks = split_document(_doc(lines))
    assert [(c.clause, c.clause_title) for c in chunks] == [("", "许可声明"), ("3.2", "必要专利")]
    assert chunks[1].citation == "GB/T 1-2020 §3.2 必要专利"


def test_long_clause_splits_with_overlap_and_never_crosses_clauses():
    sentence = "这是一个用于测试分段的较长句子，包含足够多的文字。"
    chunks = _chunks(["5.1 长条款", sentence * 30, "5.2 短条款", "短。"], max_chars=200, overlap=60)
    long_parts = [c for c in chunks if c.clause == "5.1"]
    assert len(long_parts) > 2
    assert all(len(c.text) <= 200 + len(sentence) for c in long_parts)
    assert long_parts[1].text.startswith(sentence)  # the overlap repeats the previous window's tail
    assert chunks[-1].clause == "5.2" and chunks[-1].text == "短。"


def test_tiny_clause_merges_with_the_next_and_cites_the_range():
    chunks = _chunks(["三、试验情况", "无。", "四、涉及专利的情况", "本标准不涉及专利问题。"], min_chars=4)
    assert len(chunks) == 1
    assert chunks[0].clause == "三、–四、"
    assert "四、 涉及专利的情况" in chunks[0].text and "本标准不涉及专利问题。" in chunks[0].text


def test_table_rows_stay_whole():
    rows = [Line(f"| 专利{i} | CN2023100000{i:02d}.X | 已授权 |", table=True) for i in range(40)]
    chunks = split_document(_doc([Line("5.4 专利清单"), *rows]), max_chars=300, overlap=0)
    assert len(chunks) > 1
    for chunk in chunks:
        assert all(line.startswith("| ") and line.endswith(" |") for line in chunk.text.splitlines())


def test_unwrap_rejoins_pdf_wrapped_lines():
    lines = ["2024 年 2月，研究会同意《技术、专利和标准联动工作指南", "", "》立项，计划完成时间为 2024 年 12 月。", "2、主要工作过程"]
    out = unwrap_lines(lines)
    assert out == ["2024 年 2月，研究会同意《技术、专利和标准联动工作指南》立项，计划完成时间为 2024 年 12 月。", "2、主要工作过程"]

"""Every loader on a real file of its format, and malformed files failing with a clear error."""

from pathlib import Path

import docx
import pytest
import yaml
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from assistant.errors import DocumentLoadError
from assistant.ingest.loaders import load_file
from assistant.ingest.splitter import split_document


def make_pdf(path: Path, pages: list[list[str]]) -> Path:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    pdf = canvas.Canvas(str(path))
    for lines in pages:
        pdf.setFont("STSong-Light", 11)
        for i, line in enumerate(lines):
            pdf.drawString(60, 780 - 18 * i, line)
        pdf.showPage()
    pdf.save()
    return path


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.core_properties.title = "GB/T 99999.1-2030 测试标准"
    document.add_heading("5 要求", level=1)
    document.add_heading("5.1 专利信息披露", level=2)
    document.add_paragraph("参与者应当尽早披露其拥有和知悉的必要专利。")
    table = document.add_table(rows=2, cols=3)
    for row, values in zip(table.rows, [("专利号", "名称", "状态"), ("CN202310000001.X", "节能方法", "已授权")]):
        for cell, value in zip(row.cells, values):
            cell.text = value
    document.add_paragraph("5.2 许可声明")
    document.add_paragraph("专利权人应作出许可声明。")
    document.save(str(path))
    return path


def test_markdown_front_matter_and_sections(tmp_path):
    path = tmp_path / "note.md"
    path.write_text(
        "---\ndoc_id: demo\ntitle: 演示摘要\nstandard: GB/T 33450-2016\nsource: standard\nkind: summary\n---\n"
        "> 本文为摘要。\n\n## 转化条件\n\n技术应当成熟，\n并且有市场需求。\n\n| 条件 | 说明 |\n|---|---|\n| 成熟度 | 已验证 |\n",
        encoding="utf-8",
    )
    document = load_file(path, "fallback")
    assert (document.meta.doc_id, document.meta.standard, document.meta.year, document.meta.kind) == ("demo", "GB/T 33450-2016", 2016, "summary")
    chunks = split_document(document)
    section = [c for c in chunks if c.clause_title == "转化条件"][0]
    assert "技术应当成熟，并且有市场需求。" in section.text
    assert "| 成熟度 | 已验证 |" in section.text
    assert section.citation == "GB/T 33450-2016（摘要） 转化条件"


def test_txt_in_gb18030_with_clause_numbering(tmp_path):
    path = tmp_path / "GB_T 20003.1-2014 节选.txt"
    path.write_bytes("3 术语和定义\n3.2 必要专利\n包含至少一项必要专利权利要求的专利。\n".encode("gb18030"))
    document = load_file(path, "t")
    assert document.meta.standard == "GB/T 20003.1-2014"
    assert document.meta.source == "standard"
    chunk = split_document(document)[0]
    assert (chunk.clause, chunk.clause_title) == ("3.2", "必要专利")
    assert chunk.citation == "GB/T 20003.1-2014 §3.2 必要专利"


def test_pdf_keeps_page_numbers_and_clauses(tmp_path):
    path = make_pdf(tmp_path / "std.pdf", [["5.2 专利信息披露", "参与者应尽早披露其拥有的必要专利。"], ["附录A （规范性） 专利信息披露表", "表中填写专利号和名称。"]])
    chunks = split_document(load_file(path, "std"))
    assert [(c.clause, c.page) for c in chunks] == [("5.2", 1), ("附录A", 2)]
    assert "尽早披露" in chunks[0].text


def test_docx_headings_and_tables(tmp_path):
    chunks = split_document(load_file(make_docx(tmp_path / "std.docx"), "std"))
    by_clause = {c.clause: c for c in chunks}
    assert "| CN202310000001.X | 节能方法 | 已授权 |" in by_clause["5.1"].text
    assert by_clause["5.2"].clause_title == "许可声明"
    assert by_clause["5.1"].standard == "GB/T 99999.1-2030"


def test_html_headings_tables_and_no_scripts(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>联动指南解读</title><script>alert('x')</script></head><body>"
        "<h2>专利跟踪</h2><p>定期检索竞争对手的专利。</p><table><tr><th>频次</th><td>每季度</td></tr></table>"
        "</body></html>",
        encoding="utf-8",
    )
    document = load_file(path, "page")
    assert document.meta.title == "联动指南解读"
    chunk = split_document(document)[0]
    assert chunk.clause_title == "专利跟踪"
    assert "| 频次 | 每季度 |" in chunk.text and "alert" not in chunk.text


def test_yaml_record_becomes_sections_with_access_groups(tmp_path):
    path = tmp_path / "P-9.yaml"
    path.write_text(yaml.safe_dump({
        "id": "P-9", "name": "测试项目", "stage": "评估", "access": ["研发部"],
        "patents": [{"number": "CN202410000009.9", "title": "测试专利", "status": "实审中"}],
        "budget": {"total_wan": 100, "items": [{"item": "设备费", "wan": 100}]},
    }, allow_unicode=True), encoding="utf-8")
    document = load_file(path, "ignored")
    assert (document.meta.doc_id, document.meta.source, document.meta.access) == ("P-9", "record", ["研发部"])
    titles = [c.clause_title for c in split_document(document)]
    assert titles == ["项目概况", "专利", "预算"]


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage", "PDF"),
        ("broken.docx", b"PK\x03\x04 this is not a real zip", "DOCX"),
        ("fake.docx", "只是文本".encode(), "DOCX"),
        ("bad.yaml", b"id: [unclosed", "YAML"),
        ("notrecord.yaml", b"- a\n- b\n", "id"),
        ("empty.txt", b"   \n", "没有可索引"),
        ("binary.txt", b"\xff\xfe\x00\x81\x82\xfe\xff" * 10, "编码"),
        ("slides.pptx", b"whatever", "不支持"),
    ],
)
def test_malformed_files_raise_a_clear_error_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentLoadError) as excinfo:
        load_file(path, "x")
    message = str(excinfo.value)
    assert name in message and reason in message
    assert "\n" not in message


def test_a_summary_s_notice_is_indexed_as_what_the_document_is(tmp_path):
    """The front matter's notice (a summary in our own words; what 〔可能〕 marks) is text a user may ask about."""
    from assistant.ingest.loaders import load_markdown

    path = tmp_path / "summary.md"
    path.write_text('---\ndoc_id: s\ntitle: 某标准\nnotice: "本文是摘要。句末标〔可能〕的内容尚未核实。"\n---\n\n## 概况\n\n正文。\n', encoding="utf-8")
    lines = load_markdown(path, "s").lines
    assert [(line.text, line.heading_level) for line in lines[:2]] == [("关于本文", 2), ("本文是摘要。句末标〔可能〕的内容尚未核实。", None)]
    assert lines[2].text == "概况"

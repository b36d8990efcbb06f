"""Document anatomy on our own fixtures (one standard in three formats, a regulation in two
versions) and on two real regulations: cover metadata, 目次, untitled clauses, term entries,
notes, tables, annexes, articles with 款 and 项, version labels, PDF page furniture, DOCX numbering."""

from __future__ import annotations

import sys
from pathlib import Path

import docx
import pypdfium2 as pdfium
import pytest
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from assistant.errors import DocumentLoadError
from assistant.ingest.anatomy import prepare
from assistant.ingest.loaders import load_file, pdf_lines, unwrap_lines
from assistant.ingest.models import DocumentMeta, Line, LoadedDocument
from assistant.ingest.splitter import split_document

DATA = Path(__file__).parent / "data"
STANDARD = DATA / "standard" / "T-LKA-001-2024"
REGULATION = DATA / "regulation"
LAWS = DATA / "real-laws"
FORMATS = ("md", "docx", "pdf")
EXPECTED_CLAUSES = [
    "前言", "引言", "1", "2", "3", "3.1", "3.2", "3.3", "4.1", "4.2", "4.3", "5.1.1", "5.1.2", "5.2.1", "5.2.2",
    "5.3.1", "6.1", "6.2", "6.3", "A.1", "A.1.1", "A.2", "B.1", "参考文献",
]


@pytest.fixture(scope="module", params=FORMATS)
def standard(request):
    document = load_file(STANDARD.with_suffix(f".{request.param}"), "std")
    return request.param, document, split_document(document)


def _by_clause(chunks):
    return {c.clause: c for c in chunks}


def test_the_three_formats_give_the_same_clause_ids_and_metadata(standard):
    _, document, chunks = standard
    assert [c.clause for c in chunks] == EXPECTED_CLAUSES
    meta = document.meta
    assert (meta.standard, meta.year, meta.layout, meta.source) == ("T/LKA 001-2024", 2024, "standard", "standard")
    assert (meta.title, meta.english_title) == ("联动工作台账管理规范", "Specification for the management of linkage ledgers")
    assert (meta.published, meta.effective, meta.publisher) == ("2024-06-01", "2024-07-01", "联动创新促进会")


def test_cover_and_table_of_contents_are_not_body_text(standard):
    _, _, chunks = standard
    text = "\n".join(c.text for c in chunks)
    for cover in ("ICS 03.100.01", "CCS A 00", "团体标准", "Specification for the management", "2024-06-01 发布"):
        assert cover not in text
    assert "目　次" not in text and "......" not in text
    assert text.count("1　范围") + text.count("1 范围") == 0  # the 目次 entry for chapter 1 is gone too


def test_untitled_clauses_terms_notes_tables_and_annexes(standard):
    _, _, chunks = standard
    by = _by_clause(chunks)
    assert by["4.2"].clause_title == "" and by["4.2"].text.startswith("联动工作小组应每季度更新一次台账")
    assert by["4.2"].citation == "T/LKA 001-2024 §4.2"
    assert by["3.2"].clause_title == "联动台账" and "linkage ledger" in by["3.2"].text
    assert by["3.2"].citation == "T/LKA 001-2024 §3.2 联动台账"
    assert "注：联动台账可以是电子表格" in by["3.2"].text  # a note stays with its term
    assert "注1：" in by["4.3"].text and "注2：" in by["4.3"].text
    assert "示例：" in by["5.2.2"].text
    assert "表1" in by["5.1.2"].text and "原理与概念验证" in by["5.1.2"].text
    assert "表A.1" in by["A.2"].text and "以万元计" in by["A.2"].text
    assert by["A.1.1"].clause_path == "附录A 台账字段要求 > A.1 必填字段 > A.1.1"
    assert by["6.3"].clause_path == "6 更新与核查 > 6.3"
    assert by["5.1.1"].clause_path == "5 台账内容 > 5.1 技术成果信息 > 5.1.1"
    assert by["前言"].citation == "T/LKA 001-2024 前言"
    assert "[2]" in by["参考文献"].text


def test_pdf_drops_running_header_and_page_numbers_joins_wraps_and_keeps_pages():
    chunks = split_document(load_file(STANDARD.with_suffix(".pdf"), "std"))
    by = _by_clause(chunks)
    text = "\n".join(c.text for c in chunks)
    assert "T/LKA 001—2024" not in text
    assert not any(line.strip() in ("1", "2", "3", "Ⅰ", "Ⅱ", "Ⅲ") for line in text.splitlines())
    # a sentence the PDF printed over three lines reads as one
    assert "其中，注日期的引用文件，仅该日期对应的版本适用于本文件；不注日期的引用文件，其最新版本" in by["2"].text
    assert by["前言"].page == 3 and by["1"].page == 5 and by["A.1"].page > by["6.3"].page


def test_pdf_furniture_is_repeated_at_page_edges():
    pages = [[f"第{i}页的正文内容很长很长，足以占满一行文字的宽度而不结束。", "示例标准 T/X 1—2024", str(i)] for i in range(1, 5)]
    lines = pdf_lines(pages)
    assert all("示例标准" not in l.text for l in lines) and all(l.text != "2" for l in lines)
    body = ["第一段。", "第二段。", "每页中间都有的一句话。", "第三段。", "第四段。"]
    kept = pdf_lines([body, body, body])
    assert sum(1 for l in kept if l.text == "每页中间都有的一句话。") == 3  # repeated, but not at an edge
    once = pdf_lines([["只在一页页首的一句话。", "正文。"], ["另一页。", "正文二。"], ["第三页。", "正文三。"]])
    assert once[0].text == "只在一页页首的一句话。"


def test_regulation_in_three_formats_gives_the_same_articles():
    results = {}
    for suffix in FORMATS:
        document = load_file(REGULATION / f"联动工作管理办法-2023.{suffix}", "reg")
        chunks = split_document(document)
        results[suffix] = [(c.clause, c.clause_path, c.citation) for c in chunks]
        text = "\n".join(c.text for c in chunks)
        assert "联动工作管理办法" not in text  # the title and, in the PDF, the running header
    assert results["md"] == results["docx"] == results["pdf"]
    assert ("第八条", "第三章 台账与信息 > 第八条", "《联动工作管理办法》（2023年修订）第八条") in results["pdf"]


def test_law_parts_sections_and_articles_nest():
    lines = ["示例法", "2020年5月28日 第十三届全国人民代表大会第三次会议通过", "第一编 总则", "第一章 基本规定",
             "第一条 为了示例，制定本法。", "第二章 主体", "第一节 自然人", "第二条 自然人从出生时起到死亡时止具有民事权利能力。",
             "第三条 第二款的示例。", "（一）第一项；", "（二）第二项。", "第二节 法人", "第四条 法人是组织。"]
    document = LoadedDocument(DocumentMeta(doc_id="law", title=""), [Line(t) for t in lines], "law.txt")
    chunks = split_document(prepare(document))
    by = _by_clause(chunks)
    assert by["第二条"].clause_path == "第一编 总则 > 第二章 主体 > 第一节 自然人 > 第二条"
    assert by["第四条"].clause_path == "第一编 总则 > 第二章 主体 > 第二节 法人 > 第四条"
    assert "（二）第二项。" in by["第三条"].text
    assert by["第一条"].citation == "《示例法》（2020年发布）第一条"


def test_docx_numbering_is_rendered_and_headers_footers_are_skipped():
    document = load_file(STANDARD.with_suffix(".docx"), "std")
    raw = [line.text for line in document.lines]
    assert "4.2 联动工作小组应每季度更新一次台账，发生重大变化时应在10个工作日内补充更新。" in raw
    assert "A.1.1 项目编号在本单位内应唯一，宜采用“P-年份-序号”的形式。" in raw
    # the Word file itself has no numbers in its text
    paragraphs = [p.text for p in docx.Document(str(STANDARD.with_suffix(".docx"))).paragraphs]
    assert "联动工作小组应每季度更新一次台账，发生重大变化时应在10个工作日内补充更新。" in paragraphs
    text = "\n".join(raw)
    assert "联动创新促进会内部资料" not in text  # footer
    # a vertically merged cell reads in every row it spans
    assert "| 4～6 | 样机与中试验证 | 研发 |" in raw and "| 1～3 | 原理与概念验证 | 研发 |" in raw


def test_docx_chinese_numbering_for_articles_and_items():
    document = load_file(REGULATION / "联动工作管理办法-2023.docx", "reg")
    raw = [line.text for line in document.lines]
    assert "第一章 总则" in raw and "第十二条 本办法自2023年3月1日起施行。" in raw
    assert "（三）维护联动台账；" in raw and "（一）检索与技术方案相关的国内外专利，列出可能构成障碍的专利及其权利人、法律状态和剩余保护期限；" in raw


def test_docx_horizontally_merged_cells_are_written_once(tmp_path):
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    for cell, value in zip(table.rows[0].cells, ("字段", "格式", "说明")):
        cell.text = value
    merged = table.cell(1, 0).merge(table.cell(1, 2))
    merged.text = "所有字段均为必填"
    document.add_paragraph("正文段落。")
    path = tmp_path / "merged.docx"
    document.save(str(path))
    rows = [l.text for l in load_file(path, "m").lines if l.table]
    assert rows == ["| 字段 | 格式 | 说明 |", "| 所有字段均为必填 |"]


@pytest.mark.parametrize(
    "name, label, articles, chapter_of_10",
    [
        ("专利代理条例-2018.md", "《专利代理条例》（2018年修订）", 32, "第二章 专利代理机构和专利代理师"),
        ("标准化法实施条例-1990.md", "《中华人民共和国标准化法实施条例》（1990年发布）", 44, "第二章 标准化工作的管理"),
    ],
)
def test_real_regulations_are_cited_by_article(name, label, articles, chapter_of_10):
    document = load_file(LAWS / name, "law")
    assert document.meta.layout == "law" and document.meta.cite_as == label
    chunks = split_document(document)
    article_chunks = [c for c in chunks if c.clause.startswith("第") and c.clause.endswith("条")]
    assert len({c.clause for c in article_chunks}) == articles
    tenth = _by_clause(chunks)["第十条"]
    assert tenth.citation == f"{label}第十条"
    assert tenth.clause_path == f"{chapter_of_10} > 第十条"
    assert not any(c.clause.startswith("（") or c.clause.startswith("(") for c in chunks)  # 项 stay inside


def test_items_and_paragraphs_stay_inside_their_article():
    by = _by_clause(split_document(load_file(LAWS / "标准化法实施条例-1990.md", "law")))
    assert "(一)工业产品的品种" in by["第二条"].text and "(七)信息、能源、资源、交通运输的技术要求。" in by["第二条"].text
    by = _by_clause(split_document(load_file(LAWS / "专利代理条例-2018.md", "law")))
    assert "专利代理机构应当按照委托人的委托办理专利事务。" in by["第三条"].text  # the second 款


def test_a_long_article_splits_with_overlap_and_keeps_its_id():
    chunks = split_document(load_file(REGULATION / "联动工作管理办法-2023.md", "reg"), max_chars=200, overlap=60)
    eighth = [c for c in chunks if c.clause == "第八条"]
    assert len(eighth) >= 3
    assert all(c.citation == "《联动工作管理办法》（2023年修订）第八条" for c in eighth)
    assert all(c.clause_path == "第三章 台账与信息 > 第八条" for c in eighth)


@pytest.mark.parametrize("version, label", [(2021, "2021年4月1日施行"), (2023, "2023年修订")])
def test_version_comes_from_the_documents_own_lines(version, label):
    document = load_file(REGULATION / f"联动工作管理办法-{version}.md", "reg")
    assert (document.meta.version, document.meta.year) == (label, version)


def test_unwrap_keeps_term_entries_and_reference_items_apart():
    lines = ["下列术语和定义适用于本文件。", "3.2", "联动台账　linkage ledger", "逐项记录联动项目的技术成果、相关专利和目标标准信息的表格", "或数据库。",
             "[1]　GB/T 20003.1—2014　标准制定的特殊程序", "[2]　编制说明"]
    assert unwrap_lines(lines) == [
        "下列术语和定义适用于本文件。", "3.2", "联动台账　linkage ledger",
        "逐项记录联动项目的技术成果、相关专利和目标标准信息的表格或数据库。",
        "[1]　GB/T 20003.1—2014　标准制定的特殊程序", "[2]　编制说明",
    ]


def _scanned_copy(tmp_path: Path, page: int) -> Path:
    """A PDF holding only an image of one page of our standard (no text layer), like a scan."""
    image = pdfium.PdfDocument(str(STANDARD.with_suffix(".pdf")))[page].render(scale=2).to_pil()
    path = tmp_path / "scanned.pdf"
    pdf = canvas.Canvas(str(path), pagesize=(595, 842))
    pdf.drawImage(ImageReader(image), 0, 0, 595, 842)
    pdf.showPage()
    pdf.save()
    return path


def test_a_scan_without_the_ocr_extra_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # as if the optional extra were not installed
    path = _scanned_copy(tmp_path, 4)
    with pytest.raises(DocumentLoadError) as excinfo:
        load_file(path, "scan")
    message = str(excinfo.value)
    assert "scanned.pdf" in message and "OCR" in message and "\n" not in message


@pytest.mark.slow
def test_ocr_reads_a_scanned_page_offline(tmp_path):
    pytest.importorskip("rapidocr_onnxruntime", reason="可选组件 ocr 未安装（pip install -e '.[ocr]'）")
    chunks = split_document(load_file(_scanned_copy(tmp_path, 4), "scan"))
    by = _by_clause(chunks)
    assert {"1", "2", "3.1", "3.2"} <= set(by)
    assert "联动台账" in by["3.2"].clause_title
    assert "本文件规定了技术、专利和标准联动工作台账" in by["1"].text

"""Drafts as documents a standardization engineer would send: layout, notices, sources, templates, PDF.

Every draft is re-opened with python-docx (or read back from the PDF LibreOffice made) and checked
in the file itself: page size, fonts, fields, table widths, the prescribed notices.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from datetime import date
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from pypdf import PdfReader

from assistant.tools.context import ToolContext
from assistant.tools.drafting import PdfUnavailableError, TemplateError, draft_proposal
from assistant.tools.records import get_project
from tests.test_drafting import FOREWORD, GROUP_STANDARD, INTRODUCTION, LINKAGE, plain

TODAY = date(2025, 11, 20)
TEMPLATE = Path(__file__).parent / "data" / "org-template.docx"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
needs_soffice = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) 未安装：无法把草稿转换为 PDF")


def _open(draft):
    return Document(io.BytesIO(draft.content))


def _east_asian_font(style) -> str:
    fonts = style.element.rPr.find(qn("w:rFonts"))
    return fonts.get(qn("w:eastAsia"))


def _sections(word) -> dict[str, list[str]]:
    """Paragraph texts under each Heading 1."""
    out: dict[str, list[str]] = {}
    current = None
    for p in word.paragraphs:
        if p.style.name == "Heading 1":
            current = p.text
            out[current] = []
        elif current is not None:
            out[current].append(plain(p.text))
    return out


@pytest.fixture(scope="module")
def group_draft(shipped_settings, shipped_index):
    return draft_proposal(ToolContext(shipped_settings, _index=shipped_index), "P-2025-004", GROUP_STANDARD, today=TODAY)


@pytest.fixture(scope="module")
def linkage_draft(shipped_settings, shipped_index):
    return draft_proposal(ToolContext(shipped_settings, _index=shipped_index), "P-2025-001", LINKAGE, today=TODAY)


def test_pages_are_a4_with_official_document_margins(linkage_draft):
    word = _open(linkage_draft)
    assert len(word.sections) == 2  # the cover, then the body
    for section in word.sections:
        assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
        assert (round(section.top_margin.mm), round(section.bottom_margin.mm)) == (37, 35)
        assert (round(section.left_margin.mm), round(section.right_margin.mm)) == (28, 26)


def test_fonts_are_named_for_east_asian_text_in_hao_sizes(linkage_draft):
    word = _open(linkage_draft)
    styles = word.styles
    assert (_east_asian_font(styles["Normal"]), styles["Normal"].font.size) == ("宋体", Pt(12))  # 小四
    assert (_east_asian_font(styles["Heading 1"]), styles["Heading 1"].font.size) == ("黑体", Pt(16))  # 三号
    assert (_east_asian_font(styles["Title"]), styles["Title"].font.size) == ("黑体", Pt(22))  # 二号
    assert _east_asian_font(styles["专利说明"]) == "仿宋"
    assert (_east_asian_font(styles["表格文字"]), styles["表格文字"].font.size) == ("宋体", Pt(10.5))  # 五号
    for name in ("Normal", "Heading 1", "Heading 2", "Title"):
        fonts = styles[name].element.rPr.find(qn("w:rFonts"))
        assert not [a for a in fonts.attrib if "Theme" in a], name  # a theme font would override the name
    assert styles["Heading 1"].font.color.rgb == (0, 0, 0)
    defaults = word.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    assert defaults.find(qn("w:rFonts")).get(qn("w:eastAsia")) == "宋体"
    assert defaults.find(qn("w:lang")).get(qn("w:eastAsia")) == "zh-CN"


def test_headings_are_word_headings_listed_in_a_toc_field(linkage_draft):
    word = _open(linkage_draft)
    headings = [p for p in word.paragraphs if p.style.name == "Heading 1"]
    assert len(headings) == 13
    assert word.styles["Heading 1"].element.pPr.find(qn("w:outlineLvl")).get(qn("w:val")) == "0"  # navigation pane
    body = word.element.body
    instructions = [t.text for t in body.iter(qn("w:instrText"))]
    assert any(re.fullmatch(r'\s*TOC \\o "1-1" \\h \\z \\u\s*', i) for i in instructions)
    bookmarks = {b.get(qn("w:name")) for p in headings for b in p._p.iter(qn("w:bookmarkStart"))}
    pagerefs = [re.search(r"PAGEREF (\S+)", i).group(1) for i in instructions if "PAGEREF" in i]
    assert len(bookmarks) == len(headings) and pagerefs == sorted(bookmarks)
    links = [h.get(qn("w:anchor")) for h in body.iter(qn("w:hyperlink"))]
    assert links == pagerefs
    assert word.settings.element.find(qn("w:updateFields")).get(qn("w:val")) == "true"


def test_running_header_and_page_number_field_but_a_bare_cover(linkage_draft, admin_ctx):
    word = _open(linkage_draft)
    cover, body = word.sections
    record = get_project(admin_ctx, "P-2025-001")
    assert cover.header.is_linked_to_previous and not cover.header.paragraphs[0].text  # no header on the cover
    assert not body.header.is_linked_to_previous
    assert plain(body.header.paragraphs[0].text) == f"{record.name}　{LINKAGE}"
    footer = body.footer.paragraphs[0]
    assert [t.text.strip() for t in footer._p.iter(qn("w:instrText"))] == ["PAGE"]
    assert footer.text.startswith("— ") and footer.text.endswith(" —")
    assert body._sectPr.find(qn("w:pgNumType")).get(qn("w:start")) == "1"  # the cover is not page 1


def test_tables_have_content_widths_repeated_headers_and_whole_numbers(linkage_draft, admin_ctx):
    word = _open(linkage_draft)
    usable = word.sections[-1].page_width - word.sections[-1].left_margin - word.sections[-1].right_margin
    record = get_project(admin_ctx, "P-2025-001")
    for table in word.tables:
        rows = table._tbl.tr_lst
        assert rows[0].trPr.find(qn("w:tblHeader")) is not None
        assert all(r.trPr.find(qn("w:cantSplit")) is not None for r in rows)
        widths = [c.width for c in table.columns]
        assert abs(sum(widths) - usable) <= Mm(1)
    patents = next(t for t in word.tables if t.rows[0].cells[0].text == "专利号/申请号")
    widths = [c.width for c in patents.columns]
    assert len(set(widths)) > 1  # from the content, not equal shares
    longest = max(len(p.number) for p in record.patents)
    assert widths[0] >= Pt(10.5 * 0.5 * longest)  # room for the longest number at 五号
    # numbers are unbreakable runs: hyphens non-breaking, spaces no-break
    standards = next(t for t in word.tables if t.rows[0].cells[0].text == "标准号")
    for row, standard in zip(standards.rows[1:], record.related_standards):
        cell_xml = row.cells[0]._tc.xml
        assert ("<w:noBreakHyphen/>" in cell_xml) == ("-" in standard.number) and plain(row.cells[0].text) == standard.number
        assert " " not in row.cells[0].text


def test_group_standard_proposal_carries_the_prescribed_notices(group_draft, admin_ctx):
    word = _open(group_draft)
    texts = [plain(p.text) for p in word.paragraphs]
    assert FOREWORD in texts  # exactly the GB/T 1.1-2020 sentence, as a paragraph of its own
    start = texts.index(INTRODUCTION)
    record = get_project(admin_ctx, "P-2025-004")
    listed = texts[start + 1 : start + 1 + len(record.patents_on_standard)]
    for line, patent in zip(listed, record.patents_on_standard, strict=True):
        assert line.startswith(f"{patent.number}《{patent.title}》") and "许可声明：" in line
        assert f"【待补充：专利 {patent.number} 的许可声明" in line  # the record holds no declaration
    assert "本文件的发布机构对于上述专利的真实性、有效性和范围无任何立场。" in texts[start:]
    assert any(t.startswith("请注意除上述专利外，本文件的某些内容仍可能涉及专利。") for t in texts[start:])


def test_a_recorded_licensing_declaration_is_used(tmp_path, shipped_settings, shipped_index):
    record = (
        "id: T-1\nname: 声明测试项目\nstage: 立项\norganization: 测试研究院\n"
        "target_standard: {level: 团体标准, title: 测试标准}\n"
        "patents:\n  - {number: CN202010785316.9, title: 测试专利, owner: 本公司, reads_on_target_standard: true,"
        " licensing: 同意在公平、合理、无歧视基础上收费许可}\n"
        "  - {number: CN202180047693.2, title: 拒绝许可的专利, owner: 某公司, reads_on_target_standard: true,"
        " licensing: 不同意按照以上两种方式进行专利实施许可}\n"
    )
    (tmp_path / "T-1.yaml").write_text(record, encoding="utf-8")
    from assistant.tools.records import RecordStore

    ctx = ToolContext(shipped_settings, _index=shipped_index, _records=RecordStore(tmp_path))
    text = draft_proposal(ctx, "T-1", GROUP_STANDARD, "md", today=TODAY).text
    assert "CN202010785316.9《测试专利》，专利持有人：测试研究院；许可声明：同意在公平、合理、无歧视基础上收费许可\n" in text
    refused = "CN202180047693.2《拒绝许可的专利》，专利持有人：某公司；许可声明：不同意按照以上两种方式进行专利实施许可【待核对："
    assert refused in text  # a refusal means the standard may not rest on that patent: flagged


def test_every_section_ends_with_its_sources(linkage_draft, admin_ctx):
    sections = _sections(_open(linkage_draft))
    for title, lines in sections.items():
        if title in ("依据", "待补充事项清单"):
            continue
        assert lines[-1].startswith("本节来源："), title
    first = sections["一、项目概况与国内外研究进展"][-1]
    assert first.startswith("本节来源：项目记录 P-2025-001 的 项目名称（name）") and "相关标准（related_standards）" in first
    patent_sources = sections["五、知识产权现状与计划"][-1]
    assert "GB/T 39551.5-2020（摘要） 立项前知识产权检索" in patent_sources
    # every clause named in a section's sources is in the sources section
    listed = "\n".join(sections["依据"])
    for title, lines in sections.items():
        for label in re.findall(r"条款 (.+)$", lines[-1]) if lines else []:
            for citation in label.split("；"):
                assert citation in listed, (title, citation)


def test_checklist_lists_every_gap_ordered_by_stage_gate(group_draft, admin_ctx):
    word = _open(group_draft)
    checklist = _sections(word)["待补充事项清单"]
    items = [line for line in checklist if line and not line.endswith("：") and not line.startswith("以下事项")]
    assert sorted(items) == sorted(group_draft.missing)
    gates = [line for line in checklist if line.startswith("进入")]
    order = ["构思", "评估", "立项", "实施", "成果运用", "评价改进"]
    positions = [order.index(re.match(r"进入(.+?)阶段", g).group(1)) for g in gates]
    assert positions == sorted(positions) and len(gates) >= 2
    licensing = checklist.index(next(g for g in gates if "R-IMPL-LICENSING" in g))
    assert any("的许可声明" in line for line in checklist[licensing + 1 :])
    in_word = "\n".join([p.text for p in word.paragraphs] + [c.text for t in word.tables for r in t.rows for c in r.cells])
    assert set(re.findall(r"【待补充：([^】]+)】", plain(in_word))) == {m for m in group_draft.missing if not m.startswith("核对")}


# ----- an organisation's own template -----


def test_template_keeps_its_look_and_gets_the_record_values(admin_ctx):
    draft = draft_proposal(admin_ctx, "P-2025-004", LINKAGE, template=TEMPLATE, today=TODAY)
    word = _open(draft)
    original = Document(str(TEMPLATE))
    record = get_project(admin_ctx, "P-2025-004")
    # styles, header and footer are the template's
    assert _east_asian_font(word.styles["Normal"]) == _east_asian_font(original.styles["Normal"]) == "楷体"
    assert word.styles["Heading 1"].font.color.rgb == original.styles["Heading 1"].font.color.rgb
    assert word.styles["Heading 1"].font.size == original.styles["Heading 1"].font.size == Pt(15)
    assert "机构标题" in [s.name for s in word.styles]
    assert word.sections[0].header.paragraphs[0].text == original.sections[0].header.paragraphs[0].text
    assert word.sections[0].footer.paragraphs[0].text == "院内资料　注意保密"
    # placeholders filled, including {{项目名称}} and {{承担单位}} that Word split over several runs
    cover = {row.cells[0].text: row.cells[1].text for row in word.tables[0].rows}
    assert cover["项目名称"] == record.name and cover["承担单位"] == record.organization
    assert cover["项目编号"] == "P-2025-004" and cover["填表日期"] == "2025-11-20" and cover["文稿类型"] == LINKAGE
    assert cover["目标标准"] == record.target_standard.title
    assert "{{" not in "\n".join(p.text for p in word.paragraphs) + "\n".join(cover.values())
    # our sections at the marker: after the TOC, before the template's own 审批意见
    texts = [p.text for p in word.paragraphs]
    headings = [p.text for p in word.paragraphs if p.style.name == "Heading 1"]
    assert headings[0].startswith("一、") and headings[-1] == "审批意见"
    assert texts.index("目　　录") < texts.index(headings[0]) < texts.index("审批意见")


def test_template_placeholders_the_record_cannot_fill_become_gaps(tmp_path, admin_ctx):
    word = Document()  # a form without a {{正文}} marker
    word.add_paragraph("经办人：{{经办人}}　总预算：{{总预算（万元）}}万元")
    custom = tmp_path / "custom.docx"
    word.save(custom)
    draft = draft_proposal(admin_ctx, "P-2025-007", LINKAGE, template=custom, today=TODAY)
    text = "\n".join(p.text for p in _open(draft).paragraphs)
    assert "经办人：【待补充：模板占位符“经办人”（项目记录中没有对应的字段）】" in text
    assert "总预算：【待补充：总预算（万元）】万元" in text  # P-2025-007 has no budget
    assert {"模板占位符“经办人”（项目记录中没有对应的字段）", "总预算（万元）"} <= set(draft.missing)
    # no {{正文}} marker: our sections are appended after the template's content
    headings = [p.text for p in _open(draft).paragraphs if p.style.name == "Heading 1"]
    assert headings[-1] == "待补充事项清单"
    assert not any(p.text.startswith("• ") for p in _open(draft).paragraphs)  # Word's bullet style was there


def test_a_template_without_a_bullet_style_still_shows_bullets(tmp_path, admin_ctx):
    word = Document()
    styles = word.styles.element
    styles.remove(word.styles["List Bullet"].element)
    word.add_paragraph("{{正文}}")
    bare = tmp_path / "bare.docx"
    word.save(bare)
    draft = _open(draft_proposal(admin_ctx, "P-2025-001", template=bare, today=TODAY))
    bullets = [p.text for p in draft.paragraphs if p.style.name == "List Bullet"]
    assert bullets and all(text.startswith("• ") for text in bullets)


def test_template_comes_from_the_setting_too(shipped_settings, shipped_index):
    settings = shipped_settings.model_copy(update={"draft_template": TEMPLATE})
    draft = draft_proposal(ToolContext(settings, _index=shipped_index), "P-2025-001", today=TODAY)
    assert _open(draft).sections[0].footer.paragraphs[0].text == "院内资料　注意保密"


def test_a_bad_template_is_one_clear_chinese_error(tmp_path, admin_ctx, cli):
    not_word = tmp_path / "form.docx"
    not_word.write_text("这不是 Word 文件", encoding="utf-8")
    with pytest.raises(TemplateError, match="不是有效的 .docx 文件"):
        draft_proposal(admin_ctx, "P-2025-001", template=not_word)
    template = tmp_path / "form.dotx"  # a Word template file (.dotx) rather than a document
    with zipfile.ZipFile(TEMPLATE) as source, zipfile.ZipFile(template, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"document.main+xml", b"template.main+xml")
            target.writestr(item, data)
    with pytest.raises(TemplateError, match=r"\.dotx"):
        draft_proposal(admin_ctx, "P-2025-001", template=template)
    with pytest.raises(TemplateError, match="找不到 Word 模板"):
        draft_proposal(admin_ctx, "P-2025-001", template=tmp_path / "missing.docx")
    result = cli("draft", "P-2025-001", "--template", str(not_word), "-o", str(tmp_path / "out.docx"))
    assert result.exit_code == 2 and "不是有效的 .docx 文件" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out.docx").exists()


# ----- PDF through LibreOffice -----


def test_pdf_without_libreoffice_is_a_clear_error(admin_ctx, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no soffice on this PATH
    with pytest.raises(PdfUnavailableError, match="LibreOffice"):
        draft_proposal(admin_ctx, "P-2025-001", fmt="pdf")
    result = cli("draft", "P-2025-001", "--format", "pdf", "-o", str(tmp_path / "x.pdf"))
    assert result.exit_code == 2 and "需要 LibreOffice" in result.stderr and not (tmp_path / "x.pdf").exists()


@needs_soffice
def test_pdf_has_every_gap_page_numbers_and_cjk_fonts(admin_ctx, tmp_path):
    draft = draft_proposal(admin_ctx, "P-2025-004", GROUP_STANDARD, fmt="pdf", today=TODAY)
    assert draft.media_type == "application/pdf" and draft.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(draft.content))
    assert 6 <= len(reader.pages) <= 12
    pages = [page.extract_text() for page in reader.pages]
    joined = re.sub(r"\s+", "", "".join(pages))
    for gap in re.findall(r"【待补充：[^】]+】", draft.text):
        assert re.sub(r"\s+", "", gap) in joined, gap
    assert re.sub(r"\s+", "", FOREWORD) in joined
    assert "电动汽车大功率液冷充电连接装置技术要求" in pages[0] and "团体标准" in pages[0]
    # page numbers from the second page on, and a table of contents that carries them
    assert re.search(r"—\s*1\s*—", pages[1]) and "目" in pages[1]
    toc = [line for line in pages[1].splitlines() if "涉及专利的情况" in line]
    assert toc and re.search(r"\d+\s*$", toc[0]), toc
    record = get_project(admin_ctx, "P-2025-004")
    lines = "\n".join(pages)
    for patent in record.patents_on_standard:
        assert patent.number in lines  # on one line, not split
    fonts = {str(f.get("/BaseFont")) for page in reader.pages for f in (page["/Resources"].get("/Font") or {}).values()
             for f in [f.get_object()]}
    assert any("CJK" in f or "Song" in f or "Hei" in f for f in fonts), fonts  # real CJK glyphs, no tofu
    if shutil.which("pdftoppm"):  # the first page renders (as a reviewer looks at it)
        pdf = tmp_path / "draft.pdf"
        pdf.write_bytes(draft.content)
        subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True, timeout=60)
        assert list(tmp_path.glob("page*.png"))


def test_api_serves_markdown_and_rejects_unknown_formats(shipped_settings, shipped_index):
    from fastapi.testclient import TestClient

    from assistant.agent.service import AssistantService
    from assistant.settings import ApiUser
    from assistant.surfaces.api import create_app

    settings = shipped_settings.model_copy(update={"anonymous_user": ApiUser(user="std", groups=["新能源事业部", "标准化部"])})
    app = create_app(settings, AssistantService(settings, index=shipped_index))
    with TestClient(app) as client:
        md = client.post("/api/projects/P-2025-004/proposal", json={"kind": GROUP_STANDARD, "format": "md"})
        assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
        assert md.text.startswith("# 电动汽车大功率液冷充电连接装置技术要求")
        bad = client.post("/api/projects/P-2025-004/proposal", json={"format": "odt"})
        assert bad.status_code == 422
        if SOFFICE:
            pdf = client.post("/api/projects/P-2025-001/proposal", json={"format": "pdf"})
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            assert pdf.content.startswith(b"%PDF")

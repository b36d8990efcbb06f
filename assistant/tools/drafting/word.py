"""The draft as a Word file laid out the way Chinese official documents are.

A4 with the GB/T 9704 type area (margins 37/35/28/26 mm), 宋体/仿宋 body and 黑体 headings with
sizes in 号, East Asian font names set through ``w:eastAsia``; a cover section without header or
footer, then a section with the document title as running header and the page number
(PAGE field) in the footer; a table-of-contents field whose entries are PAGEREF fields to
bookmarked headings (Word fills in the page numbers when it opens the file); headings in the real
``Heading 1`` style (so the navigation pane works); tables with column widths from their content,
header rows repeated on every page, rows never split; patent and standard numbers kept whole.

The same writer fills an organisation's own template (see ``org_template``): there it only adds the
styles the template lacks and keeps everything else of the template.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from docx.document import Document as WordDocument
from docx.enum.section import WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_TAB_ALIGNMENT, WD_TAB_LEADER
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Emu, Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph
from docx.text.run import Run

from assistant.tools.drafting.document import TODO, Bullets, Document, Heading, Para, Table
from assistant.tools.drafting.facts import PATENT_NUMBER, STANDARD_NUMBER, WORD_JOINER

# Chinese type sizes (号) in points.
HAO = {"初号": 42, "小初": 36, "一号": 26, "小一": 24, "二号": 22, "小二": 18, "三号": 16, "小三": 15,
       "四号": 14, "小四": 12, "五号": 10.5, "小五": 9}
PAGE = (Mm(210), Mm(297))
MARGINS = {"top": Mm(37), "bottom": Mm(35), "left": Mm(28), "right": Mm(26)}
LATIN = "Times New Roman"
RED = RGBColor(0xC0, 0x00, 0x00)
NBSP = "\u00a0"


@dataclass(frozen=True)
class Look:
    """How one paragraph style looks: East Asian font, size in 号, and paragraph settings."""

    font: str
    size: str
    bold: bool = False
    align: WD_ALIGN_PARAGRAPH | None = None
    line: float = 1.5
    before: float = 0
    after: float = 0
    indent_chars: int = 0  # first-line indent in characters
    outline: int | None = None


# The styles of a draft of our own. In an organisation's template only the missing ones are added.
LOOKS = {
    "Normal": Look("宋体", "小四"),
    "Title": Look("黑体", "二号", align=WD_ALIGN_PARAGRAPH.CENTER, line=1.25, before=12, after=12),
    "Subtitle": Look("黑体", "小二", align=WD_ALIGN_PARAGRAPH.CENTER, line=1.25, after=24),
    "Heading 1": Look("黑体", "三号", line=1.25, before=18, after=6, outline=0),
    "Heading 2": Look("黑体", "四号", line=1.25, before=12, after=6, outline=1),
    "Header": Look("宋体", "小五", align=WD_ALIGN_PARAGRAPH.CENTER, line=1.0),
    "Footer": Look("宋体", "四号", align=WD_ALIGN_PARAGRAPH.CENTER, line=1.0),
    "List Bullet": Look("宋体", "小四"),
    "封面标准层级": Look("黑体", "小初", align=WD_ALIGN_PARAGRAPH.CENTER, line=1.0, before=24, after=12),
    "封面标准编号": Look("黑体", "四号", align=WD_ALIGN_PARAGRAPH.RIGHT, line=1.0, after=6),
    "封面字段": Look("仿宋", "三号", line=1.5),
    "封面说明": Look("楷体", "小四", align=WD_ALIGN_PARAGRAPH.CENTER, before=36),
    "目录标题": Look("黑体", "三号", align=WD_ALIGN_PARAGRAPH.CENTER, line=1.25, after=12),
    "TOC 1": Look("宋体", "小四"),
    "正文": Look("宋体", "小四", indent_chars=2),
    "专利说明": Look("仿宋", "小四", indent_chars=2),
    "来源说明": Look("楷体", "五号", line=1.25, before=3, after=3),
    "表格文字": Look("宋体", "五号", line=1.0, before=2, after=2),
}
_FONTS_LATIN = {"宋体": LATIN, "仿宋": LATIN, "楷体": LATIN, "黑体": "Arial"}
_CELL_PADDING = Pt(5.4 * 2 + 3)
# Kept on one line: patent and standard numbers, dates, requirement ids (R-INIT-IPSEARCH).
_NUMBER = re.compile(f"{PATENT_NUMBER.pattern}|{STANDARD_NUMBER.pattern}|\\d{{4}}-\\d{{2}}-\\d{{2}}|\\bR(?:-[A-Z0-9]+)+")


def set_fonts(rpr, east_asia: str, latin: str) -> None:
    """Explicit font names (theme fonts dropped: they would override the names)."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attribute in list(fonts.attrib):
        del fonts.attrib[attribute]
    for key, name in (("w:ascii", latin), ("w:hAnsi", latin), ("w:eastAsia", east_asia), ("w:cs", latin)):
        fonts.set(qn(key), name)


def _apply(style, look: Look) -> None:
    ppr = style.element.get_or_add_pPr()
    for border in ppr.findall(qn("w:pBdr")):  # e.g. the default Title's blue rule
        ppr.remove(border)
    set_fonts(style.element.get_or_add_rPr(), look.font, _FONTS_LATIN.get(look.font, LATIN))
    style.font.size = Pt(HAO[look.size])
    style.font.bold = look.bold
    style.font.italic = False
    style.font.color.rgb = RGBColor(0, 0, 0)
    fmt = style.paragraph_format
    fmt.line_spacing = look.line
    fmt.space_before, fmt.space_after = Pt(look.before), Pt(look.after)
    if look.align is not None:
        fmt.alignment = look.align
    if look.indent_chars:
        ind = style.element.get_or_add_pPr().get_or_add_ind()
        ind.set(qn("w:firstLineChars"), str(look.indent_chars * 100))
        ind.set(qn("w:firstLine"), str(int(HAO[look.size] * 20 * look.indent_chars)))
    if look.outline is not None:
        fmt.keep_with_next = True
        ppr = style.element.get_or_add_pPr()
        if ppr.find(qn("w:outlineLvl")) is None:
            level = OxmlElement("w:outlineLvl")
            level.set(qn("w:val"), str(look.outline))
            ppr.append(level)


def ensure_styles(word: WordDocument, restyle: bool) -> None:
    """Add the styles the writer uses; ``restyle`` also gives existing ones our look (own drafts only)."""
    names = {s.name for s in word.styles}
    for name, look in LOOKS.items():
        if name in names:
            if restyle:
                _apply(word.styles[name], look)
            continue
        style = word.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = word.styles["Normal"] if name != "Normal" else None
        style.quick_style = True
        _apply(style, look)
    if "TOC 1" not in names or restyle:
        tabs = word.styles["TOC 1"].paragraph_format.tab_stops
        for stop in list(tabs):
            tabs._pPr.tabs.remove(stop._tab)  # noqa: SLF001 - python-docx has no public removal
        tabs.add_tab_stop(_text_width(word), WD_TAB_ALIGNMENT.RIGHT, WD_TAB_LEADER.DOTS)


def _text_width(word: WordDocument) -> Emu:
    section = word.sections[-1]
    return Emu(section.page_width - section.left_margin - section.right_margin)


def set_up_own_document(word: WordDocument) -> None:
    """A4, official-document margins, our fonts everywhere (also the document defaults)."""
    section = word.sections[0]
    section.page_width, section.page_height = PAGE
    section.top_margin, section.bottom_margin = MARGINS["top"], MARGINS["bottom"]
    section.left_margin, section.right_margin = MARGINS["left"], MARGINS["right"]
    section.header_distance, section.footer_distance = Mm(20), Mm(20)
    defaults = word.styles.element.find(qn("w:docDefaults"))
    rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
    set_fonts(rpr, "宋体", LATIN)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:eastAsia"), "zh-CN")
    ensure_styles(word, restyle=True)
    # Word fills in the TOC's page numbers on opening (it asks first); LibreOffice on 工具 → 更新 → 全部更新;
    # a PDF gets them from a second LibreOffice pass (see draft_proposal).
    settings = word.settings.element
    if settings.find(qn("w:updateFields")) is None:
        update = OxmlElement("w:updateFields")
        update.set(qn("w:val"), "true")
        successor = next((c for c in settings if c.tag in {qn("w:compat"), qn("w:rsids"), qn("w:themeFontLang"), qn("w:clrSchemeMapping")}), None)
        if successor is not None:
            successor.addprevious(update)
        else:
            settings.append(update)


# ----- text -----


def _protected(token: str) -> list[str | None]:
    """A number as pieces: None stands for a non-breaking hyphen; spaces become no-break spaces."""
    token = token.replace(" ", NBSP).replace("/", "/" + WORD_JOINER)
    pieces: list[str | None] = []
    for n, part in enumerate(token.split("-")):
        if n:
            pieces.append(None)
        if part:
            pieces.append(part)
    return pieces


def add_text(paragraph: Paragraph, text: str, bold: bool = False) -> None:
    """Text into a paragraph: every 【待补充…】 in bold red, patent and standard numbers unbreakable."""
    position = 0
    for gap in TODO.finditer(text):
        _plain(paragraph, text[position : gap.start()], bold)
        run = paragraph.add_run(gap.group())
        run.bold, run.font.color.rgb = True, RED
        position = gap.end()
    _plain(paragraph, text[position:], bold)


def _plain(paragraph: Paragraph, text: str, bold: bool) -> None:
    position = 0
    for number in _NUMBER.finditer(text):
        if number.start() > position:
            paragraph.add_run(text[position : number.start()]).bold = bold or None
        run = paragraph.add_run()
        run.bold = bold or None
        for piece in _protected(number.group()):
            run._r.append(OxmlElement("w:noBreakHyphen")) if piece is None else run._r.add_t(piece)  # noqa: SLF001
        position = number.end()
    if position < len(text):
        paragraph.add_run(text[position:]).bold = bold or None


def _field(paragraph: Paragraph, instruction: str, shown: str = "") -> Run:
    """A complex field (PAGE, PAGEREF …); returns the run holding its last computed result."""
    _field_start(paragraph, instruction)
    result = paragraph.add_run(shown)
    _field_end(paragraph)
    return result


def _border(paragraph: Paragraph, side: str) -> None:
    ppr = paragraph._p.get_or_add_pPr()  # noqa: SLF001
    borders = OxmlElement("w:pBdr")
    line = OxmlElement(f"w:{side}")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        line.set(qn(key), value)
    borders.append(line)
    ppr.insert_element_before(borders, "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:spacing", "w:ind", "w:jc",
                              "w:outlineLvl", "w:rPr", "w:sectPr", "w:pPrChange")


# ----- tables -----


def text_width(text: str, size: float) -> float:
    """Rendered width in points: CJK and full-width characters one em, others about half."""
    return sum(size if unicodedata.east_asian_width(c) in "WFA" else size * 0.55 for c in text)


def _unbreakable(text: str) -> list[str]:
    """Pieces a line must not break inside: numbers, Latin words, and a short cell (a label) whole."""
    pieces = [m.group() for m in _NUMBER.finditer(text)] + re.findall(r"[A-Za-z0-9.,:/%()\-]+", text)
    return [*pieces, text if len(text) <= 8 else text[:2]]


def column_widths(header: list[str], rows: list[list[str]], available: int, size: float) -> list[int]:
    """Widths (EMU) that keep every number whole and give the space left to the wordier columns."""
    pad = int(_CELL_PADDING)
    columns = list(zip(header, *rows))
    least = [pad + int(Pt(max(text_width(piece, size) for cell in column for piece in _unbreakable(cell)))) for column in columns]
    wanted = [max(low, pad + int(Pt(min(max(text_width(c, size) for c in column), 40 * size)))) for low, column in zip(least, columns)]
    if sum(wanted) <= available:
        spare = available - sum(wanted)
        return [w + spare * w // sum(wanted) for w in wanted]
    if sum(least) >= available:
        return [low * available // sum(least) for low in least]
    spare, stretch = available - sum(least), sum(w - low for w, low in zip(wanted, least))
    return [low + spare * (w - low) // stretch for w, low in zip(wanted, least)]


def _table_borders(table) -> None:
    tblpr = table._tbl.tblPr  # noqa: SLF001
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        line = OxmlElement(f"w:{side}")
        for key, value in (("w:val", "single"), ("w:sz", "4"), ("w:space", "0"), ("w:color", "000000")):
            line.set(qn(key), value)
        borders.append(line)
    tblpr.insert_element_before(borders, "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription")


def add_table(word: WordDocument, node: Table) -> None:
    size = HAO[LOOKS["表格文字"].size]
    widths = column_widths(node.header, node.rows, _text_width(word), size)
    table = word.add_table(rows=1 + len(node.rows), cols=len(node.header))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    _table_borders(table)
    tblw = table._tbl.tblPr.find(qn("w:tblW"))  # noqa: SLF001
    if tblw is not None:
        tblw.set(qn("w:type"), "dxa")
        tblw.set(qn("w:w"), str(sum(widths) // 635))
    for column, width in zip(table.columns, widths):
        column.width = Emu(width)
    numeric = [all(re.fullmatch(r"[\d.,]+|合计|", row[i]) for row in node.rows) for i in range(len(node.header))]
    for n, (row, values) in enumerate(zip(table.rows, [node.header, *node.rows])):
        trpr = row._tr.get_or_add_trPr()  # noqa: SLF001
        trpr.append(OxmlElement("w:cantSplit"))
        if n == 0:
            trpr.append(OxmlElement("w:tblHeader"))  # repeated at the top of every page
        for column, (cell, width, value) in enumerate(zip(row.cells, widths, values)):
            cell.width = Emu(width)
            paragraph = cell.paragraphs[0]
            paragraph.style = word.styles["表格文字"]
            add_text(paragraph, value, bold=n == 0)
            if n and numeric[column]:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT  # amounts line up
            if n == 0:
                shade = OxmlElement("w:shd")
                for key, val in (("w:val", "clear"), ("w:color", "auto"), ("w:fill", "E7E6E6")):
                    shade.set(qn(key), val)
                cell._tc.get_or_add_tcPr().append(shade)  # noqa: SLF001
                paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER


# ----- document parts -----


def _bookmark(paragraph: Paragraph, number: int) -> str:
    name = f"_Toc{number:08d}"
    start, end = OxmlElement("w:bookmarkStart"), OxmlElement("w:bookmarkEnd")
    start.set(qn("w:id"), str(number))
    start.set(qn("w:name"), name)
    end.set(qn("w:id"), str(number))
    paragraph._p.insert(1 if paragraph._p.pPr is not None else 0, start)  # noqa: SLF001
    paragraph._p.append(end)  # noqa: SLF001
    return name


def add_body(word: WordDocument, doc: Document) -> list[tuple[str, str]]:
    """The sections of the draft; returns (heading, bookmark) for the table of contents."""
    entries = []
    bullet = word.styles["List Bullet"]
    # a template without Word's own bullet list style gets ours, which has no numbering: a • instead
    marker = "" if bullet.element.pPr is not None and bullet.element.pPr.numPr is not None else "• "
    for node in doc.body:
        if isinstance(node, Heading):
            paragraph = word.add_paragraph(style=word.styles[f"Heading {node.level}"])
            add_text(paragraph, node.text)
            if node.level == 1:
                entries.append((node.text, _bookmark(paragraph, len(entries) + 1)))
        elif isinstance(node, Para):
            style = {"notice": "专利说明", "sources": "来源说明"}.get(node.style, "正文")
            paragraph = word.add_paragraph(style=word.styles[style])
            if node.label:
                paragraph.add_run(f"{node.label}：").bold = True
            add_text(paragraph, node.text)
        elif isinstance(node, Bullets):
            for item in node.items:
                add_text(word.add_paragraph(style=bullet), marker + item)
        else:
            add_table(word, node)
            word.add_paragraph(style=word.styles["表格文字"])
    return entries


def add_toc(word: WordDocument, entries: list[tuple[str, str]], before=None) -> dict[str, Run]:
    """A TOC field whose entries link to the headings, each with a PAGEREF page number.

    Returns, per heading, the run holding its page number as last computed: Word recomputes it
    on opening; for a PDF the caller writes in the pages LibreOffice laid the headings out on.
    """
    def paragraph(style: str) -> Paragraph:
        made = word.add_paragraph(style=word.styles[style])
        if before is not None:
            before.addprevious(made._p)  # noqa: SLF001
        return made

    add_text(paragraph("目录标题"), "目　　录")
    pages = {}
    for n, (text, bookmark) in enumerate(entries):
        line = paragraph("TOC 1")
        if n == 0:
            _field_start(line, 'TOC \\o "1-1" \\h \\z \\u')
        link = OxmlElement("w:hyperlink")
        link.set(qn("w:anchor"), bookmark)
        link.set(qn("w:history"), "1")
        line._p.append(link)  # noqa: SLF001
        holder = Paragraph(link, line._parent)  # noqa: SLF001 - runs go into the hyperlink
        holder.add_run(text)
        holder.add_run().add_tab()
        pages[text] = _field(holder, f"PAGEREF {bookmark} \\h", "")
        if n == len(entries) - 1:
            _field_end(line)
    return pages


def _field_start(paragraph: Paragraph, instruction: str) -> None:
    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    paragraph.add_run()._r.append(begin)  # noqa: SLF001
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    paragraph.add_run()._r.append(instr)  # noqa: SLF001
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    paragraph.add_run()._r.append(separate)  # noqa: SLF001


def _field_end(paragraph: Paragraph) -> None:
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    paragraph.add_run()._r.append(end)  # noqa: SLF001


def add_cover(word: WordDocument, doc: Document) -> None:
    """Title page: a standard's level and number placeholder when it proposes one, title, facts, note."""
    if doc.standard_level:
        add_text(word.add_paragraph(style=word.styles["封面标准层级"]), doc.standard_level)
        add_text(word.add_paragraph(style=word.styles["封面标准编号"]), doc.standard_number)
        _border(word.add_paragraph(style=word.styles["表格文字"]), "bottom")
    else:
        for _ in range(3):
            word.add_paragraph(style=word.styles["表格文字"])
    add_text(word.add_paragraph(style=word.styles["Title"]), doc.title)
    add_text(word.add_paragraph(style=word.styles["Subtitle"]), doc.kind)
    for label, value in doc.front:
        if label == "文稿类型":
            continue
        paragraph = word.add_paragraph(style=word.styles["封面字段"])
        paragraph.paragraph_format.left_indent = Mm(20)
        paragraph.add_run(f"{label}：").bold = True
        add_text(paragraph, value)
    add_text(word.add_paragraph(style=word.styles["封面说明"]), doc.disclaimer)


def running_header_and_page_numbers(section, title: str) -> None:
    """The document title at the top of every page of the section, "— n —" at the bottom."""
    section.header.is_linked_to_previous = False
    section.footer.is_linked_to_previous = False
    header = section.header.paragraphs[0]
    header.text = ""
    add_text(header, title)
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _border(header, "bottom")
    footer = section.footer.paragraphs[0]
    footer.text = ""
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("— ")
    _field(footer, "PAGE", "1")
    footer.add_run(" —")


def restart_page_numbers(section) -> None:
    numbering = OxmlElement("w:pgNumType")
    numbering.set(qn("w:start"), "1")
    sectpr = section._sectPr  # noqa: SLF001
    sectpr.insert_element_before(numbering, "w:pgNumType", "w:cols", "w:formProt", "w:vAlign", "w:noEndnote", "w:titlePg",
                                 "w:textDirection", "w:bidi", "w:rtlGutter", "w:docGrid", "w:printerSettings", "w:sectPrChange")


def to_docx_document(doc: Document) -> tuple[WordDocument, dict[str, Run]]:
    """Our own layout: cover section, then TOC and body with running header and page numbers."""
    from docx import Document as new_document

    word = new_document()
    set_up_own_document(word)
    add_cover(word, doc)
    body = word.add_section(WD_SECTION.NEW_PAGE)
    running_header_and_page_numbers(body, doc.header_text)
    restart_page_numbers(body)
    toc_anchor = word.add_paragraph()
    toc_anchor.add_run().add_break(WD_BREAK.PAGE)
    entries = add_body(word, doc)
    return word, add_toc(word, entries, before=toc_anchor._p)  # noqa: SLF001

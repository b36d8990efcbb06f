"""Regenerate the generated test fixtures from ``fixture_text.py``: ``python tests/data/make_fixtures.py``.

- ``standard/T-LKA-001-2024.{md,docx,pdf}``: one GB/T 1.1-style group standard in three formats.
  The DOCX numbers its clauses with Word automatic numbering (numbering.xml; the numbers are not in
  the paragraph text) and has a page header and footer; the PDF has a cover, a 目次 page with dot
  leaders, a running header, page numbers and lines wrapped at the right margin.
- ``regulation/联动工作管理办法-{2021,2023}.md``, ``-2023.docx`` (articles numbered ``第%1条`` by Word)
  and ``-2023.pdf`` (running header, page numbers, wrapped articles).
"""

from __future__ import annotations

import sys
from pathlib import Path

import docx
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Pt
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fixture_text import STANDARD, STANDARD_COVER, STANDARD_NUMBER, STANDARD_TOC, regulation  # noqa: E402

STANDARD_STEM = "T-LKA-001-2024"


def depth(number: str) -> int:
    return number.count(".") + 1


# ----- Markdown -----


def standard_markdown() -> str:
    out = [*STANDARD_COVER, "目　次", *[f"{title} {'.' * 12} {page}" for title, page in STANDARD_TOC]]
    for block in STANDARD:
        kind = block[0]
        if kind == "front":
            out.append(f"## {block[1]}")
        elif kind == "h":
            out.append(f"{'#' * (depth(block[1]) + 1)} {block[1]} {block[2]}")
        elif kind == "u":
            out.append(f"{block[1]} {block[2]}")
        elif kind == "term":
            out += [block[1], f"{block[2]} {block[3]}", block[4]]
        elif kind == "p":
            out.append(block[1])
        elif kind == "table":
            rows = block[2]
            out += [block[1], "\n".join(["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])] + ["| " + " | ".join(r) + " |" for r in rows[1:]])]
        elif kind == "annex":
            out.append(f"## 附录{block[1]}（{block[2]}）{block[3]}")
    return "\n\n".join(out) + "\n"


def regulation_markdown(version: int) -> str:
    title, head, blocks = regulation(version)
    out = [f"# {title}", *head, "<!-- INFO END -->"]
    number = 0
    for block in blocks:
        if block[0] == "chapter":
            out.append(f"## {block[1]} {block[2]}")
        else:
            number += 1
            from cn2an import an2cn

            out.append(f"第{an2cn(number)}条 {block[1][0]}")
            out += block[1][1:]
    return "\n\n".join(out) + "\n"


# ----- DOCX with Word automatic numbering -----


def _level(ilvl: int, fmt: str, text: str, suffix: str = "space") -> str:
    return (
        f'<w:lvl w:ilvl="{ilvl}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/>'
        f'<w:suff w:val="{suffix}"/><w:lvlText w:val="{text}"/><w:lvlJc w:val="left"/></w:lvl>'
    )


ABSTRACTS = {
    10: [_level(0, "decimal", "%1"), _level(1, "decimal", "%1.%2"), _level(2, "decimal", "%1.%2.%3")],
    11: [_level(0, "upperLetter", "附录%1", "nothing"), _level(1, "decimal", "%1.%2"), _level(2, "decimal", "%1.%2.%3")],
    12: [_level(0, "chineseCounting", "第%1条"), _level(1, "chineseCounting", "（%2）", "nothing")],
    13: [_level(0, "chineseCounting", "第%1章")],
}


def _install_numbering(document) -> None:
    numbering = document.part.numbering_part.element
    for abstract_id, levels in reversed(ABSTRACTS.items()):
        numbering.insert(0, parse_xml(f'<w:abstractNum {nsdecls("w")} w:abstractNumId="{abstract_id}">{"".join(levels)}</w:abstractNum>'))
    for abstract_id in ABSTRACTS:
        numbering.append(parse_xml(f'<w:num {nsdecls("w")} w:numId="{abstract_id}"><w:abstractNumId w:val="{abstract_id}"/></w:num>'))


def _number(paragraph_or_style, num_id: int, ilvl: int) -> None:
    ppr = paragraph_or_style._element.get_or_add_pPr()
    ppr.insert(0, parse_xml(f'<w:numPr {nsdecls("w")}><w:ilvl w:val="{ilvl}"/><w:numId w:val="{num_id}"/></w:numPr>'))


def _numbered(document, text: str, num_id: int, ilvl: int, style: str | None = None):
    paragraph = document.add_paragraph(text, style=style)
    _number(paragraph, num_id, ilvl)
    return paragraph


def _cjk(document) -> None:
    style = document.styles["Normal"]
    style.font.size = Pt(10.5)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")


def standard_docx(path: Path) -> None:
    document = docx.Document()
    _cjk(document)
    _install_numbering(document)
    # Heading 1/2 carry the clause numbering through their style, as GB/T templates do.
    _number(document.styles["Heading 1"], 10, 0)
    _number(document.styles["Heading 2"], 10, 1)
    _number(document.styles["Heading 3"], 10, 2)
    section = document.sections[0]
    section.header.paragraphs[0].text = STANDARD_NUMBER
    section.footer.paragraphs[0].text = "联动创新促进会内部资料"
    for line in STANDARD_COVER:
        document.add_paragraph(line)
    document.add_paragraph("目　次")
    for title, page in STANDARD_TOC:
        document.add_paragraph(f"{title}\t{page}")
    annex = False
    for block in STANDARD:
        kind = block[0]
        if kind == "front":
            _numbered(document, block[1], 0, 0, "Heading 1")  # numId 0: this heading is not numbered
        elif kind == "h":
            level = depth(block[1])
            paragraph = document.add_paragraph(block[2], style=f"Heading {level}")
            if annex:
                _number(paragraph, 11, level - 1)
        elif kind == "u":
            _numbered(document, block[2], 11 if annex else 10, depth(block[1]) - 1)
        elif kind == "term":
            _numbered(document, "", 10, 1)
            document.add_paragraph(f"{block[2]}　{block[3]}")
            document.add_paragraph(block[4])
        elif kind == "p":
            document.add_paragraph(block[1])
        elif kind == "table":
            document.add_paragraph(block[1])
            rows = block[2]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for row, values in zip(table.rows, rows):
                for cell, value in zip(row.cells, values):
                    cell.text = value
            for column in range(len(rows[0])):  # equal neighbours in a column become one merged cell
                for r in range(len(rows) - 1, 1, -1):
                    if rows[r][column] == rows[r - 1][column]:
                        top, bottom = table.cell(r - 1, column), table.cell(r, column)
                        bottom.text = ""
                        top.merge(bottom).text = rows[r][column]
        elif kind == "annex":
            annex = True
            _numbered(document, "", 11, 0)
            document.add_paragraph(f"（{block[2]}）")
            document.add_paragraph(block[3])
    document.core_properties.title = ""
    document.save(str(path))


def regulation_docx(path: Path, version: int) -> None:
    title, head, blocks = regulation(version)
    document = docx.Document()
    _cjk(document)
    _install_numbering(document)
    document.add_paragraph(title, style="Title")
    for line in head:
        document.add_paragraph(line)
    for block in blocks:
        if block[0] == "chapter":
            _numbered(document, block[2], 13, 0, "Heading 1")
            continue
        paragraphs = block[1]
        _numbered(document, paragraphs[0], 12, 0)
        for text in paragraphs[1:]:
            if text.startswith("（"):
                _numbered(document, text.split("）", 1)[1], 12, 1)
            else:
                document.add_paragraph(text)
    document.save(str(path))


# ----- PDF: cover, 目次 page, running header, page numbers, wrapped lines -----

FONT = "STSong-Light"
LINE_CHARS = 34  # CJK characters per printed line
ROMAN = "ⅠⅡⅢⅣⅤ"


def _width(text: str) -> float:
    return sum(0.5 if ch.isascii() else 1.0 for ch in text)


def wrap(text: str, limit: float = LINE_CHARS) -> list[str]:
    lines, current = [], ""
    for ch in text:
        if _width(current + ch) > limit and ch not in "，。；：、）》”":  # no line starts with closing punctuation
            lines.append(current)
            current = ""
        current += ch
    return lines + [current] if current else lines


class _Pages:
    def __init__(self, path: Path):
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        self.pdf = canvas.Canvas(str(path))
        self.y = 0.0
        self.page_label = ""
        self.header = ""

    def new_page(self, label: str, header: str = STANDARD_NUMBER) -> None:
        if self.y:
            self._finish()
        self.page_label, self.header, self.y = label, header, 760.0

    def _finish(self) -> None:
        self.pdf.setFont(FONT, 9)
        if self.header:
            self.pdf.drawRightString(535, 805, self.header)
        if self.page_label:
            self.pdf.drawCentredString(297, 40, self.page_label)
        self.pdf.showPage()

    def line(self, text: str, size: float = 10.5, centre: bool = False) -> None:
        if self.y < 80:
            self.new_page(self._next_label(), self.header)
        self.pdf.setFont(FONT, size)
        if centre:
            self.pdf.drawCentredString(297, self.y, text)
        else:
            self.pdf.drawString(60, self.y, text)
        self.y -= size * 1.7

    def paragraph(self, text: str) -> None:
        for piece in wrap(text):
            self.line(piece)

    def _next_label(self) -> str:
        if self.page_label in ROMAN:
            return ROMAN[ROMAN.index(self.page_label) + 1]
        return str(int(self.page_label) + 1) if self.page_label.isdigit() else ""

    def save(self) -> None:
        self._finish()
        self.pdf.save()


def standard_pdf(path: Path) -> None:
    pages = _Pages(path)
    pages.new_page("", header="")
    for i, text in enumerate(STANDARD_COVER):
        pages.line(text, 16 if i in (2, 4) else 11, centre=True)
        pages.y -= 20
    pages.new_page("Ⅰ")
    pages.line("目　　次", 14, centre=True)
    for title, page in STANDARD_TOC:
        leaders = "." * int((LINE_CHARS - _width(title) - 2) * 2)
        pages.line(f"{title}{leaders}{page}")
    pages.new_page("Ⅱ")
    front_pages = 0
    for block in STANDARD:
        kind = block[0]
        if kind == "front":
            if block[1] == "引言" or block[1] == "参考文献":
                front_pages += 1
                pages.new_page(ROMAN[1 + front_pages] if block[1] == "引言" else pages._next_label())
            pages.line("　".join(block[1]) if len(block[1]) == 2 else block[1], 14, centre=True)
        elif kind == "h":
            if block[1] == "1":
                pages.new_page("1")
            pages.line(f"{block[1]}　{block[2]}", 11)
        elif kind == "u":
            pages.paragraph(f"{block[1]}　{block[2]}")
        elif kind == "term":
            pages.line(block[1])
            pages.line(f"{block[2]}　{block[3]}")
            pages.paragraph(block[4])
        elif kind == "p":
            pages.paragraph(block[1])
        elif kind == "table":
            pages.line(block[1], centre=True)
            for row in block[2]:
                pages.line("　　".join(row))
        elif kind == "annex":
            pages.new_page(pages._next_label())
            pages.line(f"附　录　{block[1]}", 12, centre=True)
            pages.line(f"（{block[2]}）", centre=True)
            pages.line(block[3], 12, centre=True)
    pages.save()


def regulation_pdf(path: Path, version: int) -> None:
    """The regulation printed: title, promulgation lines, chapters, articles wrapped at the margin."""
    from cn2an import an2cn

    title, head, blocks = regulation(version)
    pages = _Pages(path)
    pages.new_page("1", header=title)
    pages.line(title, 16, centre=True)
    for line in head:
        pages.line(line, centre=True)
    number = 0
    for block in blocks:
        if block[0] == "chapter":
            pages.line(f"{block[1]}　{block[2]}", 12, centre=True)
            continue
        number += 1
        pages.paragraph(f"第{an2cn(number)}条　{block[1][0]}")
        for text in block[1][1:]:
            pages.paragraph(text)
    pages.save()


def main() -> None:
    standard = HERE / "standard"
    regulations = HERE / "regulation"
    standard.mkdir(exist_ok=True)
    regulations.mkdir(exist_ok=True)
    (standard / f"{STANDARD_STEM}.md").write_text(standard_markdown(), encoding="utf-8")
    standard_docx(standard / f"{STANDARD_STEM}.docx")
    standard_pdf(standard / f"{STANDARD_STEM}.pdf")
    for version in (2021, 2023):
        (regulations / f"联动工作管理办法-{version}.md").write_text(regulation_markdown(version), encoding="utf-8")
    regulation_docx(regulations / "联动工作管理办法-2023.docx", 2023)
    regulation_pdf(regulations / "联动工作管理办法-2023.pdf", 2023)


if __name__ == "__main__":
    main()

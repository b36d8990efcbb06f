"""Format loaders: each turns one file into a ``LoadedDocument`` (metadata + lines).

Tables are kept as text tables (``| a | b |`` rows) so that their content stays searchable and
quotable. Every parse failure becomes a ``DocumentLoadError`` naming the file.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError

from assistant.errors import DocumentLoadError, os_reason
from assistant.ingest.anatomy import prepare
from assistant.ingest.models import DocumentMeta, LoadedDocument, Line
from assistant.ingest.records import (
    ProjectRecord,
    is_ledger,
    ledger_fields,
    ledger_record,
    record_document,
    validation_problem,
)

STANDARD_NUMBER = re.compile(
    r"(?P<code>GB/T|GB/Z|GB|T/[A-Z]{2,10}|[A-Z]{2}/T|ISO/IEC|ISO|IEC)\s*"
    r"(?P<num>\d+(?:\.\d+)*)\s*[-—–－]\s*(?P<year>(?:19|20)\d{2})"
)
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
# A wrapped line ends mid-sentence; these endings close a paragraph in Chinese text.
PARAGRAPH_END = tuple("。！？；：:;!?」』）)】")

# A heading line at least this long was probably wrapped by the PDF export: its tail follows.
WRAPPED_HEADING_CHARS = 30

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm", ".yaml", ".yml", ".xlsx", ".csv")
RECORD_SUFFIXES = (".yaml", ".yml", ".xlsx", ".csv")  # files that may hold project records
# Characters that never occur in text: a "text" file full of them is binary content.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffd\ufffe\uffff]")


def find_standard(text: str) -> tuple[str, int | None]:
    """First standard number such as ``GB/T 20003.1-2014`` in the text, normalised."""
    m = STANDARD_NUMBER.search(text)
    if not m:
        return "", None
    return f"{m['code']} {m['num']}-{m['year']}", int(m["year"])


def default_meta(path: Path, doc_id: str, head_text: str, title: str = "") -> DocumentMeta:
    """Metadata for a document with no front matter: title and standard number from its text."""
    # File names cannot hold "/": "GB_T 20003.1-2014.pdf" and "GBT20003.1-2014.pdf" mean GB/T.
    stem = re.sub(r"\b(GB|[A-Z]{2})[_ ]?([TZ])(?=[\s_]*\d)", r"\1/\2 ", path.stem).replace("_", " ")
    standard, year = find_standard(f"{title}\n{stem}\n{head_text[:800]}")
    if not title:
        for line in head_text.splitlines():
            line = line.strip().lstrip("#").strip()
            if line:
                title = line[:80]
                break
    return DocumentMeta(
        doc_id=doc_id,
        title=title or path.stem,
        source="standard" if standard else "document",
        standard=standard,
        year=year,
    )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or exc.__class__.__name__
    return f"第 {mark.line + 1} 行：{problem}" if mark else str(problem)


def decode_text(path: Path, raw: bytes) -> str:
    """Text in the encoding the bytes carry: UTF-8, else the encoding charset-normalizer detects
    (GBK/GB18030, UTF-16 …). Binary content under a text extension is refused."""
    text: str | None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(raw).best()
        text = str(best) if best is not None else None
    if text is None or len(_NOT_TEXT.findall(text)) > max(2, len(text) // 100):
        raise DocumentLoadError(path, "不是文本文件：无法识别文字编码，内容可能是二进制数据")
    return text


def _read_text(path: Path) -> str:
    return decode_text(path, path.read_bytes())


LineKind = Literal["title", "opener", "bare"] | None
_CAPTION = re.compile(r"^(?:表|图)[\s\u3000]*[A-Z]?\.?\d+(?:\.\d+)*(?:[\s\u3000]|$)")
_NOTE = re.compile(r"^(?:注|示例)[\s\u3000]*\d*[\s\u3000]*[：:]|^\[\d+\]")  # notes, examples, [1] references


def line_kind(text: str) -> LineKind:
    """How a line behaves when PDF wraps are re-joined.

    ``title``: a short heading or caption (a long one may take one continuation line);
    ``opener``: a clause whose body starts on the line (untitled clause, 第X条, 注：) and runs on;
    ``bare``: a clause number alone (a term entry), whose next line (the term) is complete.
    """
    from assistant.ingest.splitter import parse_heading

    heading = parse_heading(text)
    if heading is not None:
        if heading.bare:
            return "bare"
        return "opener" if heading.body or heading.style == "article" else "title"
    if _CAPTION.match(text):
        return "title"
    if _NOTE.match(text):
        return "opener"
    return None


def unwrap_lines(raw_lines: list[str], kind: Callable[[str], LineKind] = line_kind, full_width: float | None = None) -> list[str]:
    """Re-join lines that a PDF export wrapped mid-sentence (Chinese needs no joining space).

    With ``full_width`` (the width of a full line on the page, in CJK characters), a line that
    stops well short of it ended its paragraph even without closing punctuation.
    """
    return [text for _, text in _unwrap(raw_lines, kind, full_width)]


def _unwrap(raw_lines: list[str], kind: Callable[[str], LineKind], full_width: float | None) -> list[tuple[int, str]]:
    """(index of the first raw line, joined text) for every logical line."""
    out: list[list] = []  # [first index, text, kind, closed]
    for index, raw in enumerate(raw_lines):
        line = raw.strip()
        if not line:
            continue
        line_is = kind(line)
        starts_new = not out or line_is is not None or bool(STANDARD_NUMBER.match(line)) or out[-1][3]
        if not starts_new:
            previous, previous_kind = out[-1][1], out[-1][2]
            if previous_kind == "title":
                starts_new = len(previous) < WRAPPED_HEADING_CHARS
            else:
                starts_new = previous.endswith(PARAGRAPH_END) or (
                    full_width is not None and display_width(previous) < 0.8 * full_width
                )
        if starts_new:
            after_bare = bool(out) and out[-1][2] == "bare"
            # a bare number is complete, and so is its term line
            out.append([index, line, line_is, line_is == "bare" or after_bare])
        else:
            joiner = " " if out[-1][1][-1:].isascii() and line[:1].isascii() else ""
            out[-1][1] += joiner + line
            if out[-1][2] == "title":  # a wrapped title takes one continuation line
                out[-1][3] = True
    return [(first, text) for first, text, _, _ in out]


def display_width(text: str) -> float:
    """Width in CJK characters: ASCII counts half."""
    return sum(0.5 if ch.isascii() else 1.0 for ch in text)


def _plain_lines(text: str, page: int | None = None) -> list[Line]:
    return [Line(text=t, page=page) for t in unwrap_lines(text.splitlines())]


def load_txt(path: Path, doc_id: str) -> LoadedDocument:
    text = _read_text(path)
    return LoadedDocument(default_meta(path, doc_id, text), _plain_lines(text), str(path))


def load_markdown(path: Path, doc_id: str) -> LoadedDocument:
    text = _read_text(path)
    front: dict = {}
    m = FRONT_MATTER.match(text)
    if m:
        try:
            front = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            raise DocumentLoadError(path, f"front matter 不是合法的 YAML（{_yaml_problem(exc)}）") from exc
        text = text[m.end():]
    meta = default_meta(path, str(front.get("doc_id") or doc_id), text, str(front.get("title") or ""))
    for key in ("source", "standard", "kind", "cite_as"):
        if front.get(key) is not None:
            setattr(meta, key, str(front[key]))
    if meta.standard:
        meta.year = find_standard(meta.standard)[1]
    lines: list[Line] = []
    paragraph: list[str] = []
    if front.get("notice"):  # what the document is ("a summary in our own words…", what 〔可能〕 marks): askable too
        lines += [Line(text="关于本文", heading_level=2), Line(text=str(front["notice"]).strip())]

    def flush() -> None:
        if paragraph:
            lines.extend(Line(text=t) for t in unwrap_lines(paragraph, lambda s: None))
            paragraph.clear()

    for raw in text.splitlines():
        heading = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", raw)
        stripped = raw.strip()
        if re.fullmatch(r"<!--.*-->", stripped):
            flush()
        elif heading:
            flush()
            lines.append(Line(text=heading.group(2), heading_level=len(heading.group(1))))
        elif stripped.startswith("|"):
            flush()
            if not re.fullmatch(r"\|[\s:|-]+\|?", stripped):  # skip the |---| separator row
                lines.append(Line(text=stripped, table=True))
        elif not stripped:
            flush()
        elif re.match(r"^([-*+]|\d+[.)])\s+|^>", stripped):
            flush()
            paragraph.append(stripped.lstrip(">").strip() or stripped)
            flush()
        else:
            paragraph.append(stripped)
    flush()
    return LoadedDocument(meta, [line for line in lines if line.text], str(path))


PAGE_NUMBER = re.compile(
    r"^[-—–\s]*(?:\d{1,4}|[ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ]{1,3}|[IVXivx]{1,6})[-—–\s]*$"
    r"|^第\s*\d+\s*页(?:\s*[，,/]?\s*共\s*\d+\s*页)?$|^\d+\s*/\s*\d+$"
)
OCR_HINT = "PDF 中没有可提取的文字（可能是扫描件），需要 OCR：安装可选组件 pip install 'linkage-assistant[ocr]' 后重新索引"


def _furniture_key(line: str) -> str:
    """Running headers/footers differ only in their numbers from page to page."""
    return re.sub(r"\d+", "#", re.sub(r"[\s\u3000]+", "", line))


def pdf_lines(pages: list[list[str]]) -> list[Line]:
    """Body lines of a PDF: running headers/footers, page numbers and 目次 pages removed, wraps joined.

    ``pages`` holds each page's printed lines; a line printed at a page's edge (first or last two
    lines) and repeated there, numbers aside, on at least two pages and half of them is furniture.
    """
    from assistant.ingest.anatomy import TOC_ENTRY, compact

    with_text = [p for p in pages if p]
    counts: dict[str, int] = {}
    for page in with_text:
        for key in {_furniture_key(line) for line in page if len(line) <= 60}:
            counts[key] = counts.get(key, 0) + 1
    furniture = {k for k, n in counts.items() if n >= max(2, len(with_text) / 2)}
    raw: list[tuple[int, str]] = []
    for number, page in enumerate(pages, 1):
        edge = {*range(2), *range(len(page) - 2, len(page))}  # headers and footers print at a page's edges
        if number == 1:
            edge.discard(0)  # the document's first line is its title (or the cover's first line), even if a header repeats it
        body = [
            line for i, line in enumerate(page)
            if i not in edge or (_furniture_key(line) not in furniture and not PAGE_NUMBER.match(line))
        ]
        if body and (compact(body[0]) == "目次" or sum(1 for l in body if TOC_ENTRY.search(l)) >= 0.6 * len(body) >= 3):
            continue  # a 目次 page
        raw += [(number, line) for line in body]
    widths = sorted(display_width(text) for _, text in raw)
    full_width = widths[int(len(widths) * 0.9)] if len(widths) >= 10 else None
    joined = _unwrap([text for _, text in raw], line_kind, full_width)
    return [Line(text=text, page=raw[first][0]) for first, text in joined]


def _pdf_pages(path: Path) -> tuple[list[list[str]], str, object]:
    """Printed lines of every page (pypdfium2: best recall and fastest on our Chinese PDFs)."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise DocumentLoadError(path, "PDF 已加密，无法读取") from exc
        raise DocumentLoadError(path, "PDF 文件损坏或格式不正确，无法解析") from exc
    pages = []
    for index in range(len(pdf)):
        text = pdf[index].get_textpage().get_text_range()
        pages.append([line.strip() for line in text.splitlines() if line.strip()])
    title = (pdf.get_metadata_dict().get("Title") or "").strip()
    if title.lower() in ("untitled", "无标题") or title.lower().startswith("microsoft word"):
        title = ""  # what PDF producers fill in, not the document's title
    return pages, title, pdf


def _ocr_pages(path: Path, pdf) -> list[list[str]]:
    """Read scanned pages with the optional ``ocr`` extra (RapidOCR: its models ship in the wheel)."""
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise DocumentLoadError(path, OCR_HINT) from exc
    import numpy as np

    engine = RapidOCR()
    pages = []
    for index in range(len(pdf)):
        image = np.asarray(pdf[index].render(scale=2).to_pil().convert("RGB"))
        result, _ = engine(image)
        boxes = sorted(result or [], key=lambda r: (round(r[0][0][1] / 20), r[0][0][0]))  # rows, then left to right
        # OCR drops the space between a clause number and its title: "1范围" → "1 范围"
        pages.append([re.sub(r"^(\d{1,2}(?:\.\d{1,3})*)(?=[\u4e00-\u9fff])", r"\1 ", t.strip()) for _, t, _ in boxes if t.strip()])
    return pages


def load_pdf(path: Path, doc_id: str) -> LoadedDocument:
    pages, title, pdf = _pdf_pages(path)
    if not any(pages):
        pages = _ocr_pages(path, pdf)
        if not any(pages):
            raise DocumentLoadError(path, "OCR 没有从 PDF 中读出文字")
    lines = pdf_lines(pages)
    head = "\n".join(line for page in pages[:3] for line in page)
    return LoadedDocument(default_meta(path, doc_id, head, title), lines, str(path))


def _docx_table_rows(table) -> list[str]:
    """Rows as ``| a | b |``; a merged cell is written once per row it spans (its text, not blanks)."""
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if previous is not None and cell._tc is previous._tc:  # a horizontal merge repeats the cell
                continue
            previous = cell
            cells.append(" ".join(cell.text.split()))
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _roman(n: int) -> str:
    out = ""
    for value, numeral in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        while n >= value:
            out, n = out + numeral, n - value
    return out


def _letters(n: int) -> str:
    """Word's letter numbering: A … Z, AA … ZZ."""
    return chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)


def format_number(value: int, fmt: str) -> str:
    """One level's number in a Word numbering format (numFmt)."""
    from cn2an import an2cn

    if fmt in ("chineseCounting", "chineseCountingThousand", "chineseLegalSimplified", "taiwaneseCounting", "taiwaneseCountingThousand"):
        return an2cn(value, "up" if fmt == "chineseLegalSimplified" else "low")
    if fmt in ("ideographTraditional", "ideographZodiac"):
        return "甲乙丙丁戊己庚辛壬癸"[(value - 1) % 10]
    if fmt == "upperLetter":
        return _letters(value)
    if fmt == "lowerLetter":
        return _letters(value).lower()
    if fmt == "upperRoman":
        return _roman(value)
    if fmt == "lowerRoman":
        return _roman(value).lower()
    if fmt == "decimalEnclosedCircle" and 1 <= value <= 20:
        return chr(0x2460 + value - 1)
    if fmt == "decimalFullWidth":
        return "".join(chr(ord(d) + 0xFEE0) for d in str(value))
    if fmt in ("none", "bullet"):
        return ""
    return str(value)


class DocxNumbering:
    """Word automatic numbering (numbering.xml) rendered the way Word shows it: ``1``, ``5.2.1``, ``（一）``, ``第一条``.

    The numbers are not in the paragraph text; a paragraph gets them from its own ``numPr`` or its
    style's (and the styles it is based on). Counters belong to the abstract list, a level's counter
    restarts when a higher level advances, and ``numId 0`` switches numbering off.
    """

    def __init__(self, document):
        from docx.oxml.ns import qn

        self._qn = qn
        self.levels: dict[str, dict[int, dict]] = {}  # abstractNumId -> ilvl -> {fmt, text, start, suffix}
        self.nums: dict[str, tuple[str, dict[int, int]]] = {}  # numId -> (abstractNumId, start overrides)
        self.counters: dict[str, dict[int, int]] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError):
            return
        for abstract in root.findall(qn("w:abstractNum")):
            levels = {}
            for lvl in abstract.findall(qn("w:lvl")):
                levels[int(lvl.get(qn("w:ilvl")))] = {
                    "fmt": self._val(lvl, "w:numFmt") or "decimal",
                    "text": self._val(lvl, "w:lvlText") or "",
                    "start": int(self._val(lvl, "w:start") or 1),
                    "suffix": self._val(lvl, "w:suff") or "tab",
                    "legal": lvl.find(qn("w:isLgl")) is not None,
                }
            self.levels[abstract.get(qn("w:abstractNumId"))] = levels
        for num in root.findall(qn("w:num")):
            overrides = {}
            for override in num.findall(qn("w:lvlOverride")):
                start = self._val(override, "w:startOverride")
                if start is not None:
                    overrides[int(override.get(qn("w:ilvl")))] = int(start)
            self.nums[num.get(qn("w:numId"))] = (self._val(num, "w:abstractNumId") or "", overrides)

    def _val(self, element, tag: str) -> str | None:
        child = element.find(self._qn(tag))
        return None if child is None else child.get(self._qn("w:val"))

    def _num_pr(self, paragraph) -> tuple[str | None, int]:
        qn = self._qn
        ppr = paragraph._p.pPr
        num_pr = ppr.find(qn("w:numPr")) if ppr is not None else None
        style = paragraph.style
        ilvl = None
        num_id = None
        if num_pr is not None:
            num_id = self._val(num_pr, "w:numId")
            ilvl = self._val(num_pr, "w:ilvl")
        while num_id is None and style is not None:  # numbering linked to the style (GB/T templates)
            sppr = style.element.pPr
            snum = sppr.find(qn("w:numPr")) if sppr is not None else None
            if snum is not None:
                num_id = self._val(snum, "w:numId")
                ilvl = ilvl if ilvl is not None else self._val(snum, "w:ilvl")
            style = style.base_style
        return num_id, int(ilvl or 0)

    def label(self, paragraph) -> tuple[str, str]:
        """(number as Word shows it, separator) for a numbered paragraph; ("", "") otherwise."""
        num_id, ilvl = self._num_pr(paragraph)
        if not num_id or num_id == "0" or num_id not in self.nums:
            return "", ""
        abstract_id, overrides = self.nums[num_id]
        levels = self.levels.get(abstract_id, {})
        if ilvl not in levels:
            return "", ""
        counters = self.counters.setdefault(abstract_id, {})
        if ilvl in counters:
            counters[ilvl] += 1
        else:
            counters[ilvl] = overrides.get(ilvl, levels[ilvl]["start"])
        for deeper in [k for k in counters if k > ilvl]:  # a higher level advanced: lower ones restart
            del counters[deeper]
        legal = levels[ilvl]["legal"]

        def level_number(match: re.Match) -> str:
            k = int(match.group(1)) - 1
            value = counters.get(k, levels.get(k, {}).get("start", 1))
            return format_number(value, "decimal" if legal else levels.get(k, {}).get("fmt", "decimal"))

        text = re.sub(r"%(\d)", level_number, levels[ilvl]["text"])
        return text, "" if levels[ilvl]["suffix"] == "nothing" else " "


def load_docx(path: Path, doc_id: str) -> LoadedDocument:
    """Body paragraphs and tables in order, numbers from Word's numbering; headers and footers skipped."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DocumentLoadError(path, f"DOCX 文件损坏或不是 Word 文档（{exc.__class__.__name__}）") from exc
    except Exception as exc:  # python-docx raises its own PackageNotFoundError and lxml errors
        raise DocumentLoadError(path, f"DOCX 无法解析（{exc.__class__.__name__}）") from exc
    numbering = DocxNumbering(document)
    lines: list[Line] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(Line(text=row, table=True) for row in _docx_table_rows(block))
        elif isinstance(block, Paragraph):
            number, separator = numbering.label(block)
            text = block.text.strip()
            if number:
                text = f"{number}{separator}{text}".strip()
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            level = None
            m = re.match(r"(?:Heading|标题)\s*(\d)", style)
            if m:
                level = int(m.group(1))
            elif style == "Title":
                level = 1
            lines.append(Line(text=text, heading_level=level))
    title = document.core_properties.title or ""
    head = "\n".join(line.text for line in lines[:20])
    return LoadedDocument(default_meta(path, doc_id, head, title), lines, str(path))


def load_html(path: Path, doc_id: str) -> LoadedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_read_text(path), "lxml")
    for tag in soup(["script", "style", "nav", "footer", "noscript"]):
        tag.decompose()
    lines: list[Line] = []
    body = soup.body or soup
    for element in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "table", "pre"]):
        if element.name != "table" and element.find_parent("table"):
            continue
        if element.name == "table":
            for row in element.find_all("tr"):
                cells = [" ".join(c.get_text(" ").split()) for c in row.find_all(["th", "td"])]
                lines.append(Line(text="| " + " | ".join(cells) + " |", table=True))
        elif element.name[0] == "h":
            lines.append(Line(text=" ".join(element.get_text(" ").split()), heading_level=int(element.name[1])))
        elif element.name == "li" and element.find(["p", "li"]):
            continue
        else:
            lines.extend(_plain_lines(element.get_text("\n")))
    title = soup.title.get_text().strip() if soup.title else ""
    head = "\n".join(line.text for line in lines[:20])
    return LoadedDocument(default_meta(path, doc_id, head, title), [l for l in lines if l.text], str(path))


def read_records(path: Path) -> tuple[list[ProjectRecord], list[str]]:
    """The project records in a record file, and one line per ledger row that was left out.

    A YAML file is one record (anything wrong with it is a DocumentLoadError); a spreadsheet holds
    one record per row when its header has 项目编号 and 项目名称 (a project ledger), none otherwise.
    """
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(_read_text(path))
        except yaml.YAMLError as exc:
            raise DocumentLoadError(path, f"YAML 格式错误（{_yaml_problem(exc)}）") from exc
        if not isinstance(data, dict) or not data.get("id"):
            raise DocumentLoadError(path, "项目记录必须是包含 id、name 和 stage 的 YAML 映射")
        try:
            return [ProjectRecord.model_validate(data)], []
        except ValidationError as exc:
            raise DocumentLoadError(path, f"项目记录有误：{validation_problem(exc)}") from exc
    records: list[ProjectRecord] = []
    problems: list[str] = []
    seen: set[str] = set()
    for sheet, rows in spreadsheet_rows(path):
        header_at = next((i for i, row in enumerate(rows) if any(_cell(c) for c in row)), None)
        if header_at is None or not is_ledger(rows[header_at]):
            continue
        fields = ledger_fields(rows[header_at])
        for number, row in enumerate(rows[header_at + 1:], header_at + 2):
            if not any(_cell(c) for c in row):
                continue
            where = f"{sheet} 第 {number} 行" if sheet else f"第 {number} 行"
            try:
                record = ledger_record(fields, row)
            except ValueError as exc:
                problems.append(f"{where}：{exc}，未导入")
                continue
            if record.id in seen:
                problems.append(f"{where}：项目编号 {record.id} 重复，未导入")
                continue
            seen.add(record.id)
            records.append(record)
    return records, problems


def _record_documents(path: Path, records: list[ProjectRecord]) -> list[LoadedDocument]:
    documents = []
    for record in records:
        meta, lines = record_document(record)
        documents.append(LoadedDocument(meta, lines, str(path)))
    return documents


def load_yaml_record(path: Path, doc_id: str) -> LoadedDocument:
    records, _ = read_records(path)
    return _record_documents(path, records)[0]


def _cell(value) -> str:
    """A spreadsheet cell as text: dates as ISO dates, 3.0 as 3."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10] if getattr(value, "hour", 0) == 0 else value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def spreadsheet_rows(path: Path) -> list[tuple[str, list[list]]]:
    """(sheet name, rows) of an XLSX workbook (values, not formulas) or of a CSV file ("" as sheet)."""
    if path.suffix.lower() == ".csv":
        import csv
        import io

        text = _read_text(path)
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t，")
        except csv.Error:
            dialect = csv.excel
        return [("", [list(row) for row in csv.reader(io.StringIO(text), dialect)])]
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise DocumentLoadError(path, f"XLSX 文件损坏或不是 Excel 工作簿（{exc.__class__.__name__}）") from exc
    try:
        return [(sheet.title, [list(row) for row in sheet.iter_rows(values_only=True)]) for sheet in workbook.worksheets]
    finally:
        workbook.close()


def load_spreadsheet(path: Path, doc_id: str) -> LoadedDocument:
    """A workbook or CSV as text tables, one section per sheet."""
    lines: list[Line] = []
    for sheet, rows in spreadsheet_rows(path):
        table = [[_cell(c) for c in row] for row in rows]
        table = [row for row in table if any(row)]
        if not table:
            continue
        width = max(max((i + 1 for i, c in enumerate(row) if c), default=0) for row in table)
        if sheet:
            lines.append(Line(text=sheet, heading_level=2))
        lines += [Line(text="| " + " | ".join(row[:width] + [""] * (width - len(row[:width]))) + " |", table=True) for row in table]
    return LoadedDocument(default_meta(path, doc_id, "\n".join(l.text for l in lines[:20]), path.stem), lines, str(path))


LOADERS: dict[str, Callable[[Path, str], LoadedDocument]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_txt,
    ".pdf": load_pdf,
    ".docx": load_docx,
    ".html": load_html,
    ".htm": load_html,
    ".yaml": load_yaml_record,
    ".yml": load_yaml_record,
    ".xlsx": load_spreadsheet,
    ".csv": load_spreadsheet,
}


def load_documents(path: Path, doc_id: str) -> tuple[list[LoadedDocument], list[str]]:
    """The documents in one file and one line per part left out: a project ledger gives one
    record document per good row (a line per bad row), any other file one document."""
    if path.suffix.lower() in RECORD_SUFFIXES:
        try:
            records, problems = read_records(path)
        except OSError as exc:
            raise DocumentLoadError(path, f"无法读取文件（{os_reason(exc)}）") from exc
        if records or problems:
            return _record_documents(path, records), problems
    return [load_file(path, doc_id)], []


def load_file(path: Path, doc_id: str) -> LoadedDocument:
    """Load one file with the loader for its suffix."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise DocumentLoadError(path, f"不支持的文件类型 {path.suffix}（支持：{' '.join(SUPPORTED_SUFFIXES)}）")
    try:
        document = loader(path, doc_id)
    except OSError as exc:
        raise DocumentLoadError(path, f"无法读取文件（{os_reason(exc)}）") from exc
    if not document.lines:
        raise DocumentLoadError(path, "文件中没有可索引的文字")
    if document.meta.kind != "record":
        prepare(document)
    return document

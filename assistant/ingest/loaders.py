"""Format loaders: each turns one file into a ``LoadedDocument`` (metadata + lines).

Tables are kept as text tables (``| a | b |`` rows) so that their content stays searchable and
quotable. Every parse failure becomes a ``DocumentLoadError`` naming the file.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import yaml

from assistant.errors import DocumentLoadError
from assistant.ingest.models import DocumentMeta, LoadedDocument, Line
from assistant.ingest.records import record_document

STANDARD_NUMBER = re.compile(
    r"(?P<code>GB/T|GB/Z|GB|T/[A-Z]{2,10}|[A-Z]{2}/T|ISO/IEC|ISO|IEC)\s*"
    r"(?P<num>\d+(?:\.\d+)*)\s*[-—–－]\s*(?P<year>(?:19|20)\d{2})"
)
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
# A wrapped line ends mid-sentence; these endings close a paragraph in Chinese text.
PARAGRAPH_END = tuple("。！？；：:;!?」』）)】")

# A heading line at least this long was probably wrapped by the PDF export: its tail follows.
WRAPPED_HEADING_CHARS = 30

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm", ".yaml", ".yml")


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


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DocumentLoadError(path, "不是 UTF-8 或 GB18030 编码的文本")


def unwrap_lines(raw_lines: list[str], is_heading: Callable[[str], bool]) -> list[str]:
    """Re-join lines that a PDF export wrapped mid-sentence (Chinese needs no joining space)."""
    out: list[str] = []
    heading_wrap_done = False  # a wrapped heading takes at most one continuation line
    for raw in raw_lines:
        line = raw.strip()
        if not line:
            continue
        previous_is_heading = bool(out) and is_heading(out[-1])
        starts_new = (
            not out
            or is_heading(line)
            or (previous_is_heading and (heading_wrap_done or len(out[-1]) < WRAPPED_HEADING_CHARS))
            or out[-1].endswith(PARAGRAPH_END)
            or bool(STANDARD_NUMBER.match(line))
        )
        heading_wrap_done = previous_is_heading and not starts_new
        if starts_new:
            out.append(line)
        else:
            joiner = " " if out[-1][-1:].isascii() and line[:1].isascii() else ""
            out[-1] = out[-1] + joiner + line
    return out


def _plain_lines(text: str, page: int | None = None) -> list[Line]:
    from assistant.ingest.splitter import parse_heading

    return [
        Line(text=t, page=page)
        for t in unwrap_lines(text.splitlines(), lambda s: parse_heading(s) is not None)
    ]


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

    def flush() -> None:
        if paragraph:
            lines.extend(Line(text=t) for t in unwrap_lines(paragraph, lambda s: False))
            paragraph.clear()

    for raw in text.splitlines():
        heading = re.match(r"^(#{1,6})\s+(.+?)\s*#*\s*$", raw)
        stripped = raw.strip()
        if heading:
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


def load_pdf(path: Path, doc_id: str) -> LoadedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise DocumentLoadError(path, "PDF 已加密，无法读取")
        pages = [(i + 1, page.extract_text() or "") for i, page in enumerate(reader.pages)]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except DocumentLoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentLoadError(path, f"PDF 文件损坏或格式不正确（{exc.__class__.__name__}）") from exc
    if not any(text.strip() for _, text in pages):
        raise DocumentLoadError(path, "PDF 中没有可提取的文字（可能是扫描件，需要先做 OCR）")
    lines = [line for number, text in pages for line in _plain_lines(text, number)]
    head = "\n".join(text for _, text in pages[:2])
    return LoadedDocument(default_meta(path, doc_id, head, title), lines, str(path))


def _docx_table_rows(table) -> list[str]:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if not cells or cells[-1] != text or text == "":  # merged cells repeat their text
                cells.append(text)
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def load_docx(path: Path, doc_id: str) -> LoadedDocument:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DocumentLoadError(path, f"DOCX 文件损坏或不是 Word 文档（{exc.__class__.__name__}）") from exc
    except Exception as exc:  # python-docx raises its own PackageNotFoundError and lxml errors
        raise DocumentLoadError(path, f"DOCX 无法解析（{exc.__class__.__name__}）") from exc
    lines: list[Line] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines.extend(Line(text=row, table=True) for row in _docx_table_rows(block))
        elif isinstance(block, Paragraph):
            text = block.text.strip()
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


def load_yaml_record(path: Path, doc_id: str) -> LoadedDocument:
    try:
        data = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        raise DocumentLoadError(path, f"YAML 格式错误（{_yaml_problem(exc)}）") from exc
    if not isinstance(data, dict) or not data.get("id") or not data.get("name"):
        raise DocumentLoadError(path, "项目记录必须是包含 id 和 name 的 YAML 映射")
    meta, lines = record_document(data)
    return LoadedDocument(meta, lines, str(path))


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
}


def load_file(path: Path, doc_id: str) -> LoadedDocument:
    """Load one file with the loader for its suffix."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise DocumentLoadError(path, f"不支持的文件类型 {path.suffix}（支持：{' '.join(SUPPORTED_SUFFIXES)}）")
    try:
        document = loader(path, doc_id)
    except OSError as exc:
        raise DocumentLoadError(path, f"无法读取文件（{exc.strerror or exc}）") from exc
    if not document.lines:
        raise DocumentLoadError(path, "文件中没有可索引的文字")
    return document

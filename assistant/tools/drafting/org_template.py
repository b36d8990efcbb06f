"""Drafting into an organisation's own Word template (``--template ORG.docx``, LINKAGE_DRAFT_TEMPLATE).

The template keeps its styles, headers, footers and cover. Our sections go where a paragraph reads
exactly ``{{正文}}`` (otherwise they are appended after a page break); a paragraph ``{{目录}}``
becomes our table of contents. Placeholders ``{{项目名称}}`` and the like (names in
corpus/proposal_templates.yaml ``placeholders``) are filled from the record anywhere in the
template — body, tables, text boxes, headers and footers — even when Word split one over runs.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from docx.document import Document as WordDocument
from docx.enum.text import WD_BREAK
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from docx.text.run import Run
from lxml import etree

from assistant.errors import LinkageError
from assistant.tools.drafting.document import Document
from assistant.tools.drafting.word import add_body, add_toc, ensure_styles

BODY_MARKER = "{{正文}}"
TOC_MARKER = "{{目录}}"
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


class TemplateError(LinkageError):
    """The organisation's template cannot be used."""


def open_template(path: Path) -> WordDocument:
    from docx import Document as open_word

    if not path.is_file():
        raise TemplateError(f"找不到 Word 模板 {path}。")
    try:
        return open_word(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, ValueError, KeyError, etree.XMLSyntaxError, OSError):
        raise TemplateError(f"无法使用 Word 模板 {path}：它不是有效的 .docx 文件（.doc、.dotx、.wps 请先在 Word 中另存为 .docx）。") from None


def _parts(word: WordDocument) -> Iterator[etree._Element]:
    """The XML of the body and of every header and footer the template defines."""
    yield word.element.body
    for section in word.sections:
        for part in (section.header, section.first_page_header, section.even_page_header,
                     section.footer, section.first_page_footer, section.even_page_footer):
            if not part.is_linked_to_previous:  # a linked one has no content of its own
                yield part._element  # noqa: SLF001


def _paragraph_texts(root: etree._Element) -> Iterator[list[etree._Element]]:
    """For each paragraph (also in tables and text boxes), its own w:t elements in order."""
    for paragraph in root.iter(qn("w:p")):
        yield [t for t in paragraph.iter(qn("w:t")) if next(t.iterancestors(qn("w:p"))) is paragraph]


def placeholder_names(word: WordDocument) -> list[str]:
    names = []
    for root in _parts(word):
        for texts in _paragraph_texts(root):
            names += PLACEHOLDER.findall("".join(t.text or "" for t in texts))
    return [n for n in dict.fromkeys(names) if f"{{{{{n}}}}}" not in (BODY_MARKER, TOC_MARKER)]


def _replace(texts: list[etree._Element], values: dict[str, str]) -> None:
    """Replace placeholders across the runs of one paragraph; the first run's formatting is kept."""
    joined = "".join(t.text or "" for t in texts)
    for match in reversed(list(PLACEHOLDER.finditer(joined))):
        name = match.group(1)
        if name not in values:
            continue
        offset, first = 0, True
        for t in texts:
            text = t.text or ""
            start, end = offset, offset + len(text)
            offset = end
            if end <= match.start() or start >= match.end():
                continue
            a, b = max(match.start(), start) - start, min(match.end(), end) - start
            t.text = text[:a] + (values[name] if first else "") + text[b:]
            t.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
            first = False


def _marker(word: WordDocument, marker: str):
    return next((p for p in word.paragraphs if p.text.strip() == marker), None)


def fill_template(word: WordDocument, doc: Document, values: dict[str, str]) -> tuple[WordDocument, dict[str, Run]]:
    """The template with its placeholders filled and our sections at the marker (or appended);
    with the runs of the table of contents' page numbers when the template asks for one."""
    for root in _parts(word):
        for texts in _paragraph_texts(root):
            _replace(texts, values)
    ensure_styles(word, restyle=False)
    body = word.element.body
    before = set(body)
    marker = _marker(word, BODY_MARKER)
    if marker is None:
        word.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    entries = add_body(word, doc)
    if marker is not None:
        for element in [e for e in body if e not in before and e.tag != qn("w:sectPr")]:
            marker._p.addprevious(element)  # noqa: SLF001
        body.remove(marker._p)  # noqa: SLF001
    toc = _marker(word, TOC_MARKER)
    if toc is None:
        return word, {}
    pages = add_toc(word, entries, before=toc._p)  # noqa: SLF001
    body.remove(toc._p)  # noqa: SLF001
    return word, pages

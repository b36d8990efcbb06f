"""Draft 立项 materials (Word or Markdown) from a project record, never inventing a fact.

The section structure of each kind of document is data (corpus/proposal_templates.yaml). Every
value comes from the record or from a cited clause; whatever the record lacks is written as
【待补充：…】 and listed in ``Draft.missing``. ``verify_no_invented_facts`` is the check an LLM
polish must pass: every patent number, standard number, amount and date it writes must already
be in the record or the corpus.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.errors import LinkageError
from assistant.tools.context import ToolContext
from assistant.ingest.data_files import load_yaml_model
from assistant.tools.records import Condition, ProjectRecord, get_project
from assistant.tools.workflow import Citation, Citer, Ref

TEMPLATES_FILE = "proposal_templates.yaml"
DEFAULT_KIND = "联动创新项目立项建议书"
FORMATS = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "md": "text/markdown; charset=utf-8",
}
_TODO = re.compile(r"【待(?:补充|核对)[^】]*】")


class UnknownDraftKindError(LinkageError):
    """The requested kind of document has no template."""

    def __init__(self, kind: str, valid: list[str]):
        self.kind = kind
        self.valid = valid
        super().__init__(f"未知的文稿类型 {kind!r}。可用的类型：{'、'.join(valid)}")


# ----- templates (data) -----


class Block(BaseModel):
    """One piece of a section; exactly one of value/list/table/evidence/todo/text/notice."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    value: str | None = None
    items: str | None = Field(default=None, alias="list")
    table: str | None = None
    evidence: list[str] | None = None
    todo: str | None = None
    text: str | None = None
    notice: str | None = None
    label: str = ""
    missing: str = ""
    columns: dict[str, str] = Field(default_factory=dict)
    where: str | None = None
    empty: str = ""
    total: str | None = None  # record path of the table's total, shown under ``total_column``
    total_column: str = ""
    when: Condition | None = None
    unless: Condition | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "Block":
        kinds = [k for k in ("value", "items", "table", "evidence", "todo", "text", "notice") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"每个内容块只能有一种内容，这里是 {kinds or '无'}")
        if self.table is not None and not self.columns:
            raise ValueError(f"表格 {self.table} 缺少 columns")
        if self.total and self.total_column not in self.columns:
            raise ValueError(f"表格 {self.table} 的 total_column 须是其中一列")
        return self

    def applies(self, record: ProjectRecord) -> bool:
        if self.when and not record.satisfies(self.when):
            return False
        return not (self.unless and record.satisfies(self.unless))


class SectionTemplate(BaseModel):
    title: str
    refs: list[Ref] = Field(default_factory=list)
    blocks: list[Block]


class KindTemplate(BaseModel):
    sections: list[SectionTemplate]
    refs: list[Ref] = Field(default_factory=list)
    target_level: str = ""  # the standard level this kind of document is written for, if any


class Templates(BaseModel):
    disclaimer: str
    notices: dict[str, str] = Field(default_factory=dict)
    kinds: dict[str, KindTemplate]

    @model_validator(mode="after")
    def _notices_exist(self) -> "Templates":
        for kind in self.kinds.values():
            for section in kind.sections:
                for block in section.blocks:
                    if block.notice is not None and block.notice not in self.notices:
                        raise ValueError(f"未定义的固定文字 {block.notice}")
        return self


def load_templates(path: Path) -> Templates:
    """Read and check the drafting templates; a broken file is a clear DocumentLoadError."""
    return load_yaml_model(path, Templates, "起草模板")


# ----- the document, independent of its output format -----


@dataclass
class Heading:
    text: str
    level: int = 1


@dataclass
class Para:
    text: str
    label: str = ""
    style: str = ""  # "" | "notice" | "basis"


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


Node = Heading | Para | Bullets | Table


@dataclass
class Document:
    title: str
    front: list[tuple[str, str]]  # label, value for the title page
    disclaimer: str
    body: list[Node] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def todo(self, what: str) -> str:
        """The placeholder for something the record lacks; remembered in ``missing``."""
        if what not in self.missing:
            self.missing.append(what)
        return f"【待补充：{what}】"


def _lookup(record: ProjectRecord, path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if isinstance(value, BaseModel):
            value = getattr(value, part, None)
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "、".join(_show(v) for v in value)
    return " ".join(str(value).split())


def _row(item: Any, key: str) -> Any:
    return getattr(item, key, None) if isinstance(item, BaseModel) else (item or {}).get(key)


def _table(doc: Document, record: ProjectRecord, block: Block) -> list[Node]:
    rows = _lookup(record, block.table) or []
    if not rows:
        return [Para(doc.todo(block.missing or block.label), label=block.label)]
    if block.where:
        rows = [r for r in rows if _row(r, block.where)]
        if not rows:
            return [Para(block.empty or "无", label=block.label)]
    header = list(block.columns.values())
    body = []
    for item in rows:
        cells = []
        for key, title in block.columns.items():
            shown = _show(_row(item, key))
            cells.append(shown or doc.todo(f"{block.label}中的{title}"))
        body.append(cells)
    nodes: list[Node] = [Para("", label=block.label), Table(header, body)]
    if block.total:
        total = _lookup(record, block.total)
        column = list(block.columns).index(block.total_column)
        body.append(["合计" if i == 0 else (_show(total) or doc.todo(f"{block.label}的合计")) if i == column else "" for i in range(len(header))])
        amounts = [_row(r, block.total_column) for r in rows]
        if total is not None and all(isinstance(a, (int, float)) for a in amounts) and abs(sum(amounts) - total) > 1e-6:
            what = f"{block.label}：分项之和与合计不一致"
            doc.missing.append(f"核对{what}")
            nodes.append(Para(f"【待核对：{what}】"))
    return nodes


def _evidence(doc: Document, record: ProjectRecord, block: Block, names: dict[str, str]) -> list[Node]:
    found = [e for kind in block.evidence for e in record.evidence_of(kind)]
    if not found:
        return [Para(doc.todo(block.missing or block.label), label=block.label)]
    lines = [
        f"《{e.title or names.get(e.type, e.type)}》（" + "，".join(p for p in (names.get(e.type, e.type), e.status or "状态未填写", e.date) if p) + "）"
        for e in found
    ]
    return [Para("", label=block.label), Bullets(lines)]


def _block(doc: Document, record: ProjectRecord, block: Block, templates: Templates, names: dict[str, str]) -> list[Node]:
    if block.value is not None:
        shown = _show(_lookup(record, block.value))
        return [Para(shown or doc.todo(block.missing or block.label), label=block.label)]
    if block.items is not None:
        values = [_show(v) for v in _lookup(record, block.items) or [] if _show(v)]
        if not values:
            return [Para(doc.todo(block.missing or block.label), label=block.label)]
        return [Para("", label=block.label), Bullets(values)]
    if block.table is not None:
        return _table(doc, record, block)
    if block.evidence is not None:
        return _evidence(doc, record, block, names)
    if block.todo is not None:
        return [Para(doc.todo(block.todo))]
    if block.notice is not None:
        return [Para(" ".join(templates.notices[block.notice].split()), label=block.label, style="notice")]
    return [Para(block.text or "")]


def build_document(ctx: ToolContext, record: ProjectRecord, kind: str, templates: Templates, today: date) -> Document:
    """The draft as headings, paragraphs and tables, with every cited clause resolved."""
    template = templates.kinds[kind]
    names = ctx.workflow.evidence_types
    doc = Document(title=record.name, front=[], disclaimer=templates.disclaimer)
    doc.front = [
        ("文稿类型", kind),
        ("项目编号", record.id),
        ("承担单位", record.organization or doc.todo("承担单位")),
        ("承担部门", record.department or doc.todo("承担部门")),
        ("生成日期", today.isoformat()),
    ]
    target = record.target_standard
    if template.target_level and record.targets_standard and target.level != template.target_level:
        what = f"项目记录中的目标标准层级为“{target.level or '未填写'}”，本稿按{kind}的栏目起草"
        doc.missing.append(f"核对文稿类型：{what}")
        doc.body.append(Para(f"【待核对：{what}】"))
    cite = Citer(ctx)
    cited: list[Citation] = cite.many(template.refs)
    for section in template.sections:
        doc.body.append(Heading(section.title))
        for block in section.blocks:
            if block.applies(record):
                doc.body.extend(_block(doc, record, block, templates, names))
        if section.refs:
            refs = cite.many(section.refs)
            doc.body.append(Para("；".join(c.citation for c in refs), label="依据", style="basis"))
            cited += refs
    doc.body.append(Heading("依据"))
    unique = list({(c.doc_id, c.section): c for c in cited}.values())
    doc.body.append(Bullets([f"{c.citation}：“{c.quote}”" if c.quote else c.citation for c in unique]))
    return doc


# ----- rendering -----


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document) -> str:
    """The draft as Markdown, paragraph for paragraph the same as the Word file."""
    out = [f"# {doc.title}", ""]
    out += [f"**{label}**：{value}  " for label, value in doc.front]
    out += ["", f"> {doc.disclaimer}", "", "---", ""]
    for node in doc.body:
        if isinstance(node, Heading):
            out += ["#" * (node.level + 1) + f" {node.text}", ""]
        elif isinstance(node, Para):
            text = f"*{node.text}*" if node.style == "notice" else node.text
            out += [(f"**{node.label}**：{text}" if node.label else text), ""]
        elif isinstance(node, Bullets):
            out += [f"- {item}" for item in node.items] + [""]
        else:
            out += ["| " + " | ".join(map(_md_cell, node.header)) + " |", "|" + "---|" * len(node.header)]
            out += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in node.rows] + [""]
    return "\n".join(out).rstrip() + "\n"


def _runs(paragraph, text: str, bold: bool = False, italic: bool = False) -> None:
    """Add text to a Word paragraph, with every 【待补充…】 in red so reviewers see the gaps."""
    from docx.shared import RGBColor

    position = 0
    for match in _TODO.finditer(text):
        if match.start() > position:
            run = paragraph.add_run(text[position : match.start()])
            run.bold, run.italic = bold, italic
        run = paragraph.add_run(match.group())
        run.bold, run.font.color.rgb = True, RGBColor(0xC0, 0x00, 0x00)
        position = match.end()
    if position < len(text):
        run = paragraph.add_run(text[position:])
        run.bold, run.italic = bold, italic


def to_docx(doc: Document, generated: date) -> bytes:
    """The draft as a Word file: title page, numbered headings, real tables."""
    from docx import Document as WordDocument
    from docx.enum.text import WD_BREAK
    from docx.oxml.ns import qn
    from docx.shared import Pt

    word = WordDocument()
    for style_name in ("Normal", "Title", "Heading 1", "Heading 2"):
        style = word.styles[style_name]
        style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    word.styles["Normal"].font.size = Pt(11)
    word.core_properties.title = f"{doc.front[0][1]}：{doc.title}"
    word.core_properties.author = "联动助手"
    word.core_properties.created = datetime(generated.year, generated.month, generated.day)

    word.add_heading(doc.title, level=0)
    for label, value in doc.front:
        paragraph = word.add_paragraph()
        paragraph.add_run(f"{label}：").bold = True
        _runs(paragraph, value)
    _runs(word.add_paragraph(), doc.disclaimer, italic=True)
    word.add_paragraph().add_run().add_break(WD_BREAK.PAGE)

    for node in doc.body:
        if isinstance(node, Heading):
            word.add_heading(node.text, level=node.level)
        elif isinstance(node, Para):
            paragraph = word.add_paragraph()
            if node.label:
                paragraph.add_run(f"{node.label}：").bold = True
            _runs(paragraph, node.text, italic=node.style in ("notice", "basis"))
        elif isinstance(node, Bullets):
            for item in node.items:
                _runs(word.add_paragraph(style="List Bullet"), item)
        else:
            table = word.add_table(rows=1, cols=len(node.header))
            table.style = "Table Grid"
            for cell, title in zip(table.rows[0].cells, node.header):
                cell.text = ""
                cell.paragraphs[0].add_run(title).bold = True
            for row in node.rows:
                for cell, value in zip(table.add_row().cells, row):
                    _runs(cell.paragraphs[0], value)
            word.add_paragraph()
    buffer = io.BytesIO()
    word.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Draft:
    """A generated document. ``text`` is its Markdown form (for review and for an LLM polish)."""

    filename: str
    content: bytes
    media_type: str
    missing: list[str]
    text: str
    generated_on: date
    polished: int = 0  # paragraphs whose LLM rewrite passed the checks
    rejected: list[str] = field(default_factory=list)  # facts an LLM rewrite invented (rewrite dropped)


Polisher = Callable[[str], str]
_POLISH_MIN_CHARS = 20


def polish_document(doc: Document, record: ProjectRecord, polish: Polisher) -> tuple[int, list[str]]:
    """Let an LLM rewrite the prose paragraphs, keeping a rewrite only if it passes the checks.

    A rewrite must keep every 【待补充/待核对】 placeholder and may not contain a patent number,
    standard number, amount or date that is not in the record or in the original paragraph;
    otherwise the original paragraph stays. Tables, notices and source lists are never rewritten.
    """
    polished, rejected = 0, []
    for node in doc.body:
        if not isinstance(node, Para) or node.style or len(_TODO.sub("", node.text)) < _POLISH_MIN_CHARS:
            continue  # nothing worth an LLM call: a notice, a source line, or a bare placeholder
        rewrite = (polish(node.text) or "").strip()
        invented = verify_no_invented_facts(rewrite, record, [node.text])
        if rewrite and not invented and set(_TODO.findall(node.text)) <= set(_TODO.findall(rewrite)):
            node.text = rewrite
            polished += 1
        rejected += invented
    return polished, list(dict.fromkeys(rejected))


def draft_proposal(
    ctx: ToolContext,
    project_id: str,
    kind: str = DEFAULT_KIND,
    fmt: str = "docx",
    today: date | None = None,
    polish: Polisher | None = None,
) -> Draft:
    """Draft a 立项 document for a visible project from its record and the cited clauses.

    Kinds are the templates in corpus/proposal_templates.yaml (e.g. 联动创新项目立项建议书,
    团体标准项目建议书); ``fmt`` is "docx" or "md". Gaps are marked 【待补充：…】, never filled in.
    ``polish`` (an LLM rewrite of one paragraph) smooths the prose, under ``polish_document``'s checks.
    """
    templates = load_templates(ctx.settings.corpus_dir / TEMPLATES_FILE)
    kind = kind.strip()
    if kind not in templates.kinds:
        raise UnknownDraftKindError(kind, list(templates.kinds))
    fmt = fmt.strip().lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"未知格式 {fmt!r}，可选：{'、'.join(FORMATS)}")
    record = get_project(ctx, project_id)
    generated = today or date.today()
    doc = build_document(ctx, record, kind, templates, generated)
    polished, rejected = polish_document(doc, record, polish) if polish else (0, [])
    markdown = to_markdown(doc)
    content = to_docx(doc, generated) if fmt == "docx" else markdown.encode("utf-8")
    return Draft(
        filename=f"{record.id}-{kind}.{fmt}",
        content=content,
        media_type=FORMATS[fmt],
        missing=list(doc.missing),
        text=markdown,
        generated_on=generated,
        polished=polished,
        rejected=rejected,
    )


# ----- the no-invention check -----

_PATENT = re.compile(
    r"(?<![A-Z0-9])(?:(?:CN|ZL)\s?\d{8,13}(?:\.[\dX]|[ABUY]\d?)?|PCT/[A-Z]{2}\d{4}/\d{5,6}|WO\s?\d{4}/\d{6}"
    r"|(?:US|EP|JP|KR)\s?\d{6,11}(?:\s?[AB]\d?)?)"
)
_STANDARD = re.compile(
    r"(?<![A-Za-z0-9/])(?:"
    r"(?:GB/[TZ]|GB|[A-Z]{2,4}/[TZ]|T/[A-Z]{2,10})\s*\d{1,6}(?:\.\d{1,3})*(?:\s*[-—–]\s*\d{4})?"
    r"|[A-Z]{2}\s*\d{1,6}(?:\.\d{1,3})*\s*[-—–]\s*(?:19|20)\d{2}"
    r"|ISO(?:/IEC)?(?:/TS|/TR)?\s*\d{3,5}(?:-\d{1,3})*(?::\d{4})?"
    r"|IEC\s*\d{3,5}(?:-\d{1,3})*(?::\d{4})?"
    r"|3GPP\s*T[RS]\s*\d{2}\.\d{3}"
    r"|ETSI\s*(?:ES|EN|TS|TR|EG|GS)\s*\d{3}\s?\d{3}(?:-\d+)*"
    r"|ITU-T\s*[A-Z]\.\d{1,4}(?:\.\d+)?"
    r"|(?:IETF\s*)?RFC\s*\d{3,5}"
    r"|IEEE\s*\d{3,5}(?:\.\d+[a-z]*)?"
    r")"
)
_DATE = re.compile(
    r"(?<![\d.])((?:19|20)\d{2})\s*(?:年|[-/])\s*(\d{1,2})(?:\s*(?:月|[-/])\s*(\d{1,2})\s*日?|\s*月)?(?![\d.])"
)
_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d{2})(?=\s*(?:年|[-—–]\s*(?:19|20)\d{2}\s*年))")
_ANY_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_AMOUNT = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(亿元|万元|元)")
_UNIT = {"亿元": 1e8, "万元": 1e4, "元": 1.0}


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _canonical(token: str) -> str:
    """One spelling per number: no spaces, ASCII dashes, upper case, ZL… read as CN…."""
    token = re.sub(r"\s+", "", _nfkc(token)).upper()
    token = re.sub(r"[‐‑‒–—―−－]", "-", token)
    return re.sub(r"ZL(?=\d)", "CN", token)


def _mentioned(token: str, haystack: str) -> bool:
    return re.search(rf"(?<![A-Z0-9]){re.escape(_canonical(token))}(?![0-9]|\.[0-9])", haystack) is not None


def _dates(text: str) -> list[tuple[str, tuple[int, ...]]]:
    found = []
    for m in _DATE.finditer(text):
        year, month = int(m.group(1)), int(m.group(2))
        day = int(m.group(3)) if m.group(3) else None
        if 1 <= month <= 12 and (day is None or 1 <= day <= 31):
            found.append((m.group().strip(), (year, month, day) if day else (year, month)))
    return found


def _amounts(text: str) -> list[tuple[str, float]]:
    return [
        (m.group().strip(), round(float(m.group(1).replace(",", "") + (m.group(2) or "")) * _UNIT[m.group(3)], 2))
        for m in _AMOUNT.finditer(text)
    ]


def _flatten(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _flatten(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _flatten(v)
    elif value is not None:
        yield str(value)


def verify_no_invented_facts(text: str, record: ProjectRecord, corpus_texts: Iterable[str]) -> list[str]:
    """Patent numbers, standard numbers, amounts (元/万元/亿元) and dates in ``text`` that appear
    neither in the record nor in ``corpus_texts`` (the cited clauses, or any other trusted text).

    An empty list means nothing checkable was invented; otherwise the offending strings, in order.
    """
    sources = [_nfkc(s) for s in [*_flatten(record.model_dump(mode="json")), *corpus_texts]]
    haystack = "\n".join(_canonical(s) for s in sources)
    joined = "\n".join(sources)
    known_dates = {d for _, d in _dates(joined)} | {d[:2] for _, d in _dates(joined)}
    known_years = {int(y) for y in _ANY_YEAR.findall(joined)}
    known_amounts = {a for _, a in _amounts(joined)}
    if record.budget:
        wan = [record.budget.total_wan, *(i.wan for i in record.budget.items)]
        known_amounts |= {round(w * 1e4, 2) for w in wan if w is not None}

    text = _nfkc(text)
    invented: list[str] = []
    for pattern in (_PATENT, _STANDARD):
        invented += [m.group().strip() for m in pattern.finditer(text) if not _mentioned(m.group(), haystack)]
        text = pattern.sub(" ", text)
    invented += [raw for raw, d in _dates(text) if d not in known_dates]
    text = _DATE.sub(" ", text)
    invented += [f"{y}年" for y in _YEAR.findall(text) if int(y) not in known_years]
    invented += [raw for raw, amount in _amounts(text) if amount not in known_amounts]
    return list(dict.fromkeys(invented))

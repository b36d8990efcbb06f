"""A draft as format-independent nodes, built from a record and the cited clauses, never inventing.

Every value comes from the record or from a cited clause; whatever the record lacks is written as
【待补充：…】 and remembered as a ``Gap`` with the stage gate (corpus/workflow.yaml) that needs it,
so the checklist at the end can be ordered by when each gap blocks the project.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from assistant.tools.context import ToolContext
from assistant.tools.drafting.facts import verify_no_invented_facts
from assistant.tools.drafting.templates import Block, Cover, KindTemplate, Notice, Templates
from assistant.tools.records import Patent, ProjectRecord
from assistant.tools.workflow import Citation, Citer, Workflow

TODO = re.compile(r"【待(?:补充|核对)[^】]*】")
CHECKLIST_TITLE = "待补充事项清单"
SOURCES_TITLE = "依据"


@dataclass
class Heading:
    text: str
    level: int = 1


@dataclass
class Para:
    text: str
    label: str = ""
    style: str = ""  # "" | "notice" | "sources"


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


Node = Heading | Para | Bullets | Table


@dataclass(frozen=True)
class Gate:
    """The stage gate that needs a piece of content: entering ``stage``, by requirement ``requirement``."""

    stage: str
    position: int  # the stage's place in the workflow, for ordering
    requirement: str  # "R-INIT-IPSEARCH 已完成知识产权检索或专利导航报告"

    @property
    def label(self) -> str:
        return f"进入{self.stage}阶段：{self.requirement}"


@dataclass(frozen=True)
class Gap:
    what: str  # as in the placeholder: 【待补充：what】, or "核对…" for a 【待核对】
    gate: Gate


@dataclass
class Document:
    title: str
    front: list[tuple[str, str]]  # label, value for the title page
    disclaimer: str
    kind: str = ""
    standard_level: str = ""  # for a standard's proposal: its level and number placeholder on the cover
    standard_number: str = ""
    project_id: str = ""
    body: list[Node] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)  # values for an organisation template's placeholders
    gate: Gate | None = None  # the gate of the content being written; set by the builder

    @property
    def missing(self) -> list[str]:
        return list(dict.fromkeys(g.what for g in self.gaps))

    @property
    def header_text(self) -> str:
        return f"{self.title}　{self.kind}" if self.kind else self.title

    def todo(self, what: str) -> str:
        """The placeholder for something the record lacks; remembered in ``gaps``."""
        self._remember(what)
        return f"【待补充：{what}】"

    def review(self, what: str, topic: str = "") -> str:
        """A 【待核对】 note: the record holds something a person must check (listed as 核对<topic><what>)."""
        self._remember(f"核对{topic}{what}")
        return f"【待核对：{what}】"

    def _remember(self, what: str) -> None:
        if what not in self.missing:
            self.gaps.append(Gap(what, self.gate or Gate("", 0, "")))


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


def show(value: Any) -> str:
    """A record value as text: dates ISO, whole numbers without .0, lists joined with 、."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:g}"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "、".join(show(v) for v in value)
    return " ".join(str(value).split())


def record_value(record: ProjectRecord, path: str) -> str:
    return show(_lookup(record, path))


def _row(item: Any, key: str) -> Any:
    return getattr(item, key, None) if isinstance(item, BaseModel) else (item or {}).get(key)


class Gates:
    """Which stage gate needs which evidence type, for this record (conditions of corpus/workflow.yaml)."""

    def __init__(self, workflow: Workflow, record: ProjectRecord):
        self._found: dict[str, Gate] = {}
        for position, stage in enumerate(workflow.order):
            for requirement in workflow.gate(stage):
                if not record.satisfies(requirement.when):
                    continue
                for evidence in requirement.evidence:
                    self._found.setdefault(evidence, Gate(stage, position, f"{requirement.id} {requirement.name}"))

    def first(self, evidence_types: list[str]) -> Gate | None:
        """The earliest gate that needs any of these evidence types."""
        gates = [self._found[e] for e in evidence_types if e in self._found]
        return min(gates, key=lambda g: g.position) if gates else None


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
            shown = show(_row(item, key))
            cells.append(shown or doc.todo(f"{block.label}中的{title}"))
        body.append(cells)
    nodes: list[Node] = [Para("", label=block.label), Table(header, body)]
    if block.total:
        total = _lookup(record, block.total)
        column = list(block.columns).index(block.total_column)
        body.append(["合计" if i == 0 else (show(total) or doc.todo(f"{block.label}的合计")) if i == column else "" for i in range(len(header))])
        amounts = [_row(r, block.total_column) for r in rows]
        if total is not None and all(isinstance(a, (int, float)) for a in amounts) and abs(sum(amounts) - total) > 1e-6:
            nodes.append(Para(doc.review(f"{block.label}：分项之和与合计不一致")))
    return nodes


def _evidence(doc: Document, record: ProjectRecord, block: Block, names: dict[str, str]) -> list[Node]:
    found = [e for kind in block.evidence for e in record.evidence_of(kind)]
    if not found:
        return [Para(doc.todo(block.missing or block.label), label=block.label)]
    # "日期 2025-04-02": after a space LibreOffice keeps the date whole; right after "，" it may split it
    lines = [
        f"《{e.title or names.get(e.type, e.type)}》（"
        + "，".join(p for p in (names.get(e.type, e.type), e.status or "状态未填写", e.date and f"日期 {e.date}") if p) + "）"
        for e in found
    ]
    return [Para("", label=block.label), Bullets(lines)]


def _patent_line(doc: Document, record: ProjectRecord, patent: Patent, notice: Notice, templates: Templates) -> str:
    """One identified patent for the 引言 notice: number, title, holder and its licensing declaration."""
    holder = record.organization if patent.owner in templates.own_owners else patent.owner
    if not holder or holder == "第三方":
        holder = doc.todo(f"专利 {patent.number} 的专利持有人名称和联系方式")
    licensing = show(getattr(patent, "licensing", None))
    if not licensing:
        licensing = doc.todo(f"专利 {patent.number} 的许可声明（免费许可、收费许可或不同意许可，三选一）")
    elif templates.licensing_options and licensing == templates.licensing_options[-1]:
        licensing += doc.review(f"专利 {patent.number} 的专利权人不同意许可：标准不得包含基于该专利的条款")
    return notice.patent_line.format(number=patent.number, title=patent.title or patent.number, holder=holder, licensing=licensing)


def _notice(doc: Document, record: ProjectRecord, block: Block, templates: Templates) -> list[Node]:
    notice = templates.notices[block.notice]
    nodes: list[Node] = [Para("", label=block.label)]
    for paragraph in notice.paragraphs:
        if paragraph == "{patents}":
            nodes.append(Bullets([_patent_line(doc, record, p, notice, templates) for p in record.patents_on_standard]))
        else:
            nodes.append(Para(" ".join(paragraph.split()), style="notice"))
    return nodes


def _block(doc: Document, record: ProjectRecord, block: Block, templates: Templates, names: dict[str, str]) -> list[Node]:
    if block.value is not None:
        shown = record_value(record, block.value)
        return [Para(shown or doc.todo(block.missing or block.label), label=block.label)]
    if block.items is not None:
        values = [show(v) for v in _lookup(record, block.items) or [] if show(v)]
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
        return _notice(doc, record, block, templates)
    return [Para(block.text or "")]


def _fields_used(block: Block, names: dict[str, str]) -> list[str]:
    """The record fields a block reads, as shown in a section's sources line."""
    if block.evidence is not None:
        return [f"{names.get(e, e)}（evidence: {e}）" for e in block.evidence]
    if block.notice == "patent_introduction":
        return ["可能涉及目标标准的专利（patents）"]
    path = block.value or block.items or block.table
    return [f"{block.label}（{path}）" if block.label else path] if path else []


def _sources_line(record: ProjectRecord, fields: list[str], citations: list[Citation]) -> str:
    parts = []
    if fields:
        parts.append(f"项目记录 {record.id} 的 " + "、".join(dict.fromkeys(fields)))
    if citations:
        parts.append("条款 " + "；".join(dict.fromkeys(c.citation for c in citations)))
    return "；".join(parts) if parts else "无（本节内容均待补充）"


def _cover(doc: Document, record: ProjectRecord, cover: Cover, templates: Templates, today: date) -> None:
    doc.title = record_value(record, cover.title) or doc.todo(cover.title_missing)
    if cover.standard_level:
        doc.standard_level = record_value(record, cover.standard_level) or doc.todo("目标标准层级")
        doc.standard_number = templates.number_placeholders.get(doc.standard_level, "××/× ××××—××××")
        doc.front.append(("标准层级", doc.standard_level))
        doc.front.append(("标准编号", f"{doc.standard_number}（立项后由标准化组织编号）"))
    for block in cover.fields:
        doc.front.append((block.label, record_value(record, block.value) or doc.todo(block.missing or block.label)))
    doc.front.append(("生成日期", today.isoformat()))


def build_document(
    ctx: ToolContext, record: ProjectRecord, kind: str, templates: Templates, today: date, template_fields: Iterable[str] = ()
) -> Document:
    """The draft as headings, paragraphs and tables, with every cited clause resolved.

    ``template_fields`` are the placeholders of an organisation's Word template: their values go to
    ``Document.fields``, and what the record lacks joins the checklist like any other gap.
    """
    template: KindTemplate = templates.kinds[kind]
    names = ctx.workflow.evidence_types
    gates = Gates(ctx.workflow, record)
    default_gate = gates.first([template.evidence]) or Gate("", 0, "")
    doc = Document(title="", front=[("文稿类型", kind)], disclaimer=templates.disclaimer, kind=kind, project_id=record.id)
    doc.gate = default_gate
    _cover(doc, record, template.cover, templates, today)
    target = record.target_standard
    if template.target_level and record.targets_standard and target.level != template.target_level:
        what = f"项目记录中的目标标准层级为“{target.level or '未填写'}”，本稿按{kind}的栏目起草"
        doc.body.append(Para(doc.review(what, topic="文稿类型：")))
    cite = Citer(ctx)
    cited: list[Citation] = cite.many(template.refs)
    for section in template.sections:
        doc.body.append(Heading(section.title))
        fields: list[str] = []
        section_cited = cite.many(section.refs)
        for block in section.blocks:
            if not block.applies(record):
                continue
            doc.gate = gates.first(block.needed_for or block.evidence or []) or default_gate
            doc.body.extend(_block(doc, record, block, templates, names))
            fields += _fields_used(block, names)
            if block.notice is not None:
                section_cited += cite.many(templates.notices[block.notice].refs)
        doc.gate = default_gate
        doc.body.append(Para(_sources_line(record, fields, section_cited), label="本节来源", style="sources"))
        cited += section_cited
    doc.body.append(Heading(SOURCES_TITLE))
    unique = list({(c.doc_id, c.section): c for c in cited}.values())
    doc.body.append(Bullets([f"{c.citation}：“{c.quote}”" if c.quote else c.citation for c in unique]))
    doc.fields = _template_values(doc, record, templates, template_fields, today)
    _checklist(doc)
    return doc


def _template_values(doc: Document, record: ProjectRecord, templates: Templates, names: Iterable[str], today: date) -> dict[str, str]:
    computed = {"文稿类型": doc.kind, "生成日期": today.isoformat()}
    level = record.target_standard.level if record.targets_standard else ""
    number = doc.standard_number or templates.number_placeholders.get(level, "")
    if number:
        computed["标准编号"] = number
    values = {}
    for name in names:
        if name in computed:
            values[name] = computed[name]
        elif name in templates.placeholders:
            values[name] = record_value(record, templates.placeholders[name]) or doc.todo(name)
        else:
            values[name] = doc.todo(f"模板占位符“{name}”（项目记录中没有对应的字段）")
    return values


def _checklist(doc: Document) -> None:
    """Every gap once, grouped by the stage gate that needs it, in workflow order (then draft order)."""
    doc.body.append(Heading(CHECKLIST_TITLE))
    if not doc.gaps:
        doc.body.append(Para("无：项目记录已覆盖本稿的全部栏目。"))
        return
    doc.body.append(Para("以下事项按需要它们的阶段门槛先后排列；补齐项目记录后重新生成本稿。"))
    by_gate: dict[Gate, list[str]] = {}
    for gap in sorted(doc.gaps, key=lambda g: g.gate.position):  # sorted() is stable: draft order kept
        by_gate.setdefault(gap.gate, []).append(gap.what)
    for gate, items in by_gate.items():
        doc.body.append(Para("", label=gate.label if gate.stage else "其他"))
        doc.body.append(Bullets(items))


# ----- LLM polish -----

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
        if not isinstance(node, Para) or node.style or len(TODO.sub("", node.text)) < _POLISH_MIN_CHARS:
            continue  # nothing worth an LLM call: a notice, a source line, or a bare placeholder
        rewrite = (polish(node.text) or "").strip()
        invented = verify_no_invented_facts(rewrite, record, [node.text])
        if rewrite and not invented and set(TODO.findall(node.text)) <= set(TODO.findall(rewrite)):
            node.text = rewrite
            polished += 1
        rejected += invented
    return polished, list(dict.fromkeys(rejected))

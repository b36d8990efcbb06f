"""Project records: one model for the index (records are searchable) and the record tools.

A record is a YAML file (one project) or a row of a project ledger spreadsheet (项目台账, one
project per row, columns mapped by ``LEDGER_COLUMNS``). Whatever the source, it is validated as a
``ProjectRecord`` here, so a record the index holds is a record ``projects``/``check``/``draft`` see.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from assistant.ingest.models import DocumentMeta, Line

DONE = "完成"  # the only evidence status that satisfies a gate requirement
Condition = Literal["always", "targets_standard", "has_patents", "has_patents_on_standard"]


def _text(value: Any) -> Any:
    """YAML turns 2025-04-25 into a date; records keep dates as the text the author wrote."""
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


Text = Annotated[str, BeforeValidator(_text)]


class _Open(BaseModel):
    """Record parts accept fields we do not know yet, so richer records still load."""

    model_config = ConfigDict(extra="allow")


class TargetStandard(_Open):
    level: Text = ""
    title: Text = ""
    body: Text = ""
    route: Text = ""


class Patent(_Open):
    number: Text
    title: Text = ""
    status: Text = ""
    owner: Text = ""
    reads_on_target_standard: bool = False


class RelatedStandard(_Open):
    number: Text
    title: Text = ""
    relation: Text = ""


class Evidence(_Open):
    type: Text
    title: Text = ""
    date: Text = ""
    status: Text = ""


class Milestone(_Open):
    name: Text
    due: Text = ""
    status: Text = ""


class BudgetItem(_Open):
    item: Text
    wan: float | None = None


class Budget(_Open):
    total_wan: float | None = None
    items: list[BudgetItem] = Field(default_factory=list)


class TeamMember(_Open):
    name: Text
    role: Text = ""
    unit: Text = ""


class ProjectRecord(_Open):
    """One internal project record (corpus/records/<id>.yaml, any indexed YAML record, or a ledger row)."""

    id: Text
    name: Text
    stage: Text
    organization: Text = ""
    department: Text = ""
    owner: Text = ""
    access: list[Text] = Field(default_factory=list)
    summary: Text = ""
    objectives: list[Text] = Field(default_factory=list)
    target_standard: TargetStandard | None = None
    patents: list[Patent] = Field(default_factory=list)
    related_standards: list[RelatedStandard] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    milestones: list[Milestone] = Field(default_factory=list)
    budget: Budget | None = None
    risks: list[Text] = Field(default_factory=list)
    team: list[TeamMember] = Field(default_factory=list)

    @property
    def targets_standard(self) -> bool:
        """The project aims at a standard (the record names one)."""
        target = self.target_standard
        return bool(target and (target.title or target.level or target.body))

    @property
    def has_patents(self) -> bool:
        return bool(self.patents)

    @property
    def has_patents_on_standard(self) -> bool:
        """Some patent (ours or a third party's) may be essential to the target standard."""
        return self.targets_standard and bool(self.patents_on_standard)

    @property
    def patents_on_standard(self) -> list[Patent]:
        return [p for p in self.patents if p.reads_on_target_standard]

    def satisfies(self, condition: Condition) -> bool:
        """Evaluate a workflow ``when`` condition against this record."""
        return condition == "always" or bool(getattr(self, condition))

    def evidence_of(self, evidence_type: str) -> list[Evidence]:
        """Every piece of evidence of one type, in record order."""
        return [e for e in self.evidence if e.type == evidence_type]

    def visible_to(self, groups: list[str] | None) -> bool:
        """``None`` is the local administrator; anyone else needs a group in ``access``."""
        return groups is None or bool(set(self.access) & set(groups))



def validation_problem(exc: ValidationError) -> str:
    """The first thing wrong with a record, in one line."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "记录"
    return f"{where} {first['msg']}"


# ----- project ledgers (项目台账) -----

# Ledger column (as organisations title them) → record field. Lists are split at ，,、;；.
LEDGER_COLUMNS: dict[str, str] = {
    "项目编号": "id", "编号": "id",
    "项目名称": "name", "名称": "name",
    "当前阶段": "stage", "阶段": "stage",
    "承担单位": "organization",
    "部门": "department", "承担部门": "department",
    "项目负责人": "owner", "负责人": "owner",
    "查阅分组": "access", "访问组": "access", "可见分组": "access",
    "技术摘要": "summary", "摘要": "summary",
    "项目目标": "objectives",
    "目标标准": "target_standard.title", "标准层级": "target_standard.level", "归口单位": "target_standard.body",
    "专利号": "patents", "相关专利": "patents",
    "相关标准": "related_standards",
    "总预算（万元）": "budget.total_wan", "总预算(万元)": "budget.total_wan", "预算（万元）": "budget.total_wan",
    "风险": "risks",
}
_LIST_FIELDS = {"access", "objectives", "patents", "related_standards", "risks"}
_REQUIRED = {"id": "项目编号", "name": "项目名称", "stage": "当前阶段"}


def ledger_fields(header: list[Any]) -> list[str | None]:
    """The record field of each ledger column (None: not mapped); a ledger needs 项目编号 and 项目名称."""
    return [LEDGER_COLUMNS.get(re.sub(r"\s+", "", str(h or ""))) for h in header]


def is_ledger(header: list[Any]) -> bool:
    fields = ledger_fields(header)
    return "id" in fields and "name" in fields


def _split(value: str) -> list[str]:
    return [p.strip() for p in re.split(r"[，,、;；\n]", value) if p.strip()]


def ledger_record(fields: list[str | None], row: list[Any]) -> ProjectRecord:
    """One ledger row as a record; raises ValueError with a one-line Chinese reason."""
    data: dict[str, Any] = {}
    for field_name, value in zip(fields, row):
        if field_name is None or value is None or str(value).strip() == "":
            continue
        text = value.isoformat() if isinstance(value, date) else str(value).strip()
        if field_name in _LIST_FIELDS:
            items = _split(text)
            if field_name == "patents":
                data[field_name] = [{"number": n} for n in items]
            elif field_name == "related_standards":
                data[field_name] = [{"number": n} for n in items]
            else:
                data[field_name] = items
        elif "." in field_name:
            parent, child = field_name.split(".")
            data.setdefault(parent, {})[child] = text
        else:
            data[field_name] = text
    missing = [label for key, label in _REQUIRED.items() if not data.get(key)]
    if missing:
        raise ValueError(f"缺少{'、'.join(missing)}")
    try:
        return ProjectRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"] if not isinstance(p, int))
        column = next((label for label, name in LEDGER_COLUMNS.items() if name == path or path.startswith(name + ".")), path)
        raise ValueError(f"“{column}”的值 {first.get('input')!r} 格式不正确") from exc


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> list[Line]:
    header = "| " + " | ".join(label for _, label in columns) + " |"
    body = ["| " + " | ".join(_cell(row.get(key)) for key, _ in columns) + " |" for row in rows if isinstance(row, dict)]
    return [Line(text=t, table=True) for t in [header, *body]]


def _cell(value) -> str:
    """A table cell as a Chinese reader writes it: 是/否 for a yes/no field, nothing for a missing one."""
    if isinstance(value, bool):
        return "是" if value else "否"
    return "" if value is None else str(value)


def _section(title: str, lines: list[Line]) -> list[Line]:
    return [Line(text=title, heading_level=2), *lines] if lines else []


def record_document(record: ProjectRecord) -> tuple[DocumentMeta, list[Line]]:
    """Metadata (access groups included) and lines for one project record."""
    data = record.model_dump(exclude_none=True)
    meta = DocumentMeta(
        doc_id=str(data["id"]),
        title=str(data["name"]),
        source="record",
        kind="record",
        cite_as=f"项目记录 {data['id']}",
        access=[str(g) for g in data.get("access") or []],
    )
    overview = [
        f"{label}：{data[key]}"
        for key, label in (
            ("id", "项目编号"),
            ("name", "项目名称"),
            ("organization", "承担单位"),
            ("department", "部门"),
            ("stage", "当前阶段"),
            ("owner", "项目负责人"),
        )
        if data.get(key)
    ]
    target = data.get("target_standard") or {}
    if isinstance(target, dict) and target:
        # each part labelled, so a question naming the part ("哪个组织", "什么路线") finds its line
        named = "".join(v for v in (target.get("level"), f"《{target['title']}》" if target.get("title") else "") if v)
        parts = [f"目标标准：{named}"] if named else []
        parts += [f"{label}：{target[key]}" for label, key in (("标准化组织", "body"), ("标准化路线", "route")) if target.get(key)]
        overview.append("；".join(parts))
    lines = _section("项目概况", [Line(text=t) for t in overview])
    if data.get("summary"):
        lines += _section("技术摘要", [Line(text=" ".join(str(data["summary"]).split()))])
    if data.get("objectives"):
        lines += _section("项目目标", [Line(text=f"- {o}") for o in data["objectives"]])
    if data.get("patents"):
        lines += _section(
            "专利",
            _table(data["patents"], [("number", "专利号"), ("title", "名称"), ("status", "状态"), ("owner", "权利人"), ("reads_on_target_standard", "涉及目标标准")]),
        )
    if data.get("related_standards"):
        lines += _section("相关标准", _table(data["related_standards"], [("number", "标准号"), ("title", "名称"), ("relation", "关系")]))
    if data.get("evidence"):
        lines += _section("已有材料", _table(data["evidence"], [("type", "类型"), ("title", "材料"), ("date", "日期"), ("status", "状态")]))
    if data.get("milestones"):
        lines += _section("里程碑", _table(data["milestones"], [("name", "里程碑"), ("due", "计划完成"), ("status", "状态")]))
    budget = data.get("budget")
    if isinstance(budget, dict) and budget:
        rows = [Line(text=f"总预算：{budget.get('total_wan', '未填写')} 万元")]
        if budget.get("items"):
            rows += _table(budget["items"], [("item", "科目"), ("wan", "金额（万元）")])
        lines += _section("预算", rows)
    if data.get("risks"):
        lines += _section("风险", [Line(text=f"- {r}") for r in data["risks"]])
    if data.get("team"):
        lines += _section("团队", _table(data["team"], [("name", "姓名"), ("role", "角色"), ("unit", "单位")]))
    return meta, lines

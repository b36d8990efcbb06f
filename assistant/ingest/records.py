"""Render an internal project record (YAML) as a searchable document, one section per topic."""

from __future__ import annotations

from typing import Any

from assistant.ingest.models import DocumentMeta, Line


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> list[Line]:
    header = "| " + " | ".join(label for _, label in columns) + " |"
    body = [
        "| " + " | ".join(str(row.get(key, "") if row.get(key) is not None else "") for key, _ in columns) + " |"
        for row in rows
        if isinstance(row, dict)
    ]
    return [Line(text=t, table=True) for t in [header, *body]]


def _section(title: str, lines: list[Line]) -> list[Line]:
    return [Line(text=title, heading_level=2), *lines] if lines else []


def record_document(data: dict[str, Any]) -> tuple[DocumentMeta, list[Line]]:
    """Metadata (access groups included) and lines for one project record."""
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
        overview.append(
            "目标标准：" + "，".join(f"{v}" for v in (target.get("level"), target.get("title"), target.get("body"), target.get("route")) if v)
        )
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

"""Is a project ready for its next stage? A deterministic check of its record against workflow gates.

No model is involved: the verdict comes from the evidence statuses in the record and the gate
requirements in corpus/workflow.yaml, and every requirement cites the clauses it rests on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from assistant.errors import LinkageError
from assistant.tools.context import ToolContext
from assistant.tools.records import DONE, ProjectRecord, get_project
from assistant.tools.workflow import Citation, Citer, Requirement, Workflow

Status = Literal["met", "partial", "missing"]


class ReadinessItem(BaseModel):
    id: str
    requirement: str
    status: Status
    evidence: str
    clauses: list[Citation]


class ReadinessReport(BaseModel):
    """The JSON contract of `linkage check --json` and of the readiness tool."""

    project_id: str
    current_stage: str
    target_stage: str
    ready: bool
    items: list[ReadinessItem]
    next_actions: list[str]


def _target(flow: Workflow, record: ProjectRecord, current: str, target: str | None) -> str:
    if target is None:
        following = flow.next_stage(current)
        if following is None:
            raise LinkageError(f"项目 {record.id} 已处于最后一个阶段「{current}」，没有下一阶段可检查")
        return following
    resolved = flow.resolve_stage(target)
    if flow.order.index(resolved) <= flow.order.index(current):
        later = flow.order[flow.order.index(current) + 1 :]
        choices = "、".join(later) if later else "（无）"
        raise LinkageError(f"项目 {record.id} 当前处于「{current}」，目标阶段须在其之后，可选：{choices}")
    return resolved


def _assess(flow: Workflow, record: ProjectRecord, requirement: Requirement) -> tuple[Status, str]:
    """met when any accepted evidence is 完成; partial when some exists but is unfinished."""
    found = [e for kind in requirement.evidence for e in record.evidence_of(kind)]
    if not found:
        names = "或".join(f"「{flow.evidence_name(k)}」" for k in requirement.evidence)
        return "missing", f"项目记录中没有{names}"
    described = "；".join(
        f"《{e.title or flow.evidence_name(e.type)}》（{e.status or '状态未填写'}" + (f"，{e.date}）" if e.date else "）")
        for e in found
    )
    return ("met" if any(e.status == DONE for e in found) else "partial"), described


def _action(flow: Workflow, record: ProjectRecord, requirement: Requirement, status: Status, clauses: list[Citation]) -> str:
    deliverable = "或".join(f"《{flow.evidence_name(k)}》" for k in requirement.evidence)
    basis = f"（依据：{clauses[0].citation}）" if clauses else ""
    if status == "partial":
        current = "、".join(dict.fromkeys(e.status or "状态未填写" for k in requirement.evidence for e in record.evidence_of(k)))
        return f"完善{deliverable}并定稿（目前为“{current}”）{basis}"
    return f"编制{deliverable}并定稿{basis}"


def check_readiness(ctx: ToolContext, project_id: str, target_stage: str | None = None) -> ReadinessReport:
    """Check a visible project against the gates up to ``target_stage`` (default: its next stage).

    When the target is several stages ahead, the gates of every stage in between count too.
    """
    record = get_project(ctx, project_id)
    flow = ctx.workflow
    current = flow.resolve_stage(record.stage)
    target = _target(flow, record, current, target_stage)
    stages = flow.order[flow.order.index(current) + 1 : flow.order.index(target) + 1]
    cite = Citer(ctx)
    items: list[ReadinessItem] = []
    actions: list[str] = []
    for stage in stages:
        for requirement in flow.gate(stage):
            if not record.satisfies(requirement.when):
                continue
            status, evidence = _assess(flow, record, requirement)
            clauses = cite.many(requirement.clauses)
            items.append(ReadinessItem(id=requirement.id, requirement=requirement.name, status=status, evidence=evidence, clauses=clauses))
            if status != "met":
                actions.append(_action(flow, record, requirement, status, clauses))
    return ReadinessReport(
        project_id=record.id,
        current_stage=current,
        target_stage=target,
        ready=all(item.status == "met" for item in items),
        items=items,
        next_actions=actions,
    )

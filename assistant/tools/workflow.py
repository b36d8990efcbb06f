"""Workflow tools: the workflow's references resolved into citations, and what a stage involves.

The workflow data model lives in ``assistant.ingest.workflow``; its names are re-exported here.
"""

from __future__ import annotations

import logging
import re

from pydantic import BaseModel

from assistant.errors import IndexNotReadyError
from assistant.ingest.workflow import CONDITION_TEXT, Gate, Ref, Requirement, Stage, Tracking, Workflow, load_workflow
from assistant.tools.context import ToolContext

__all__ = [
    "CONDITION_TEXT", "Citation", "Citer", "Gate", "Ref", "Requirement", "Stage", "StageInfo", "Tracking", "Workflow",
    "explain_stage", "first_sentence", "load_workflow",
]
logger = logging.getLogger(__name__)
_QUOTE_LIMIT = 120

# ----- citations -----


class Citation(BaseModel):
    """A resolved reference: where it points, how to cite it, and a verbatim quote to check it by."""

    doc_id: str
    section: str
    citation: str
    quote: str


def first_sentence(text: str) -> str:
    """The first sentence (up to 。！？；) of a chunk, verbatim: a list marker dropped, an over-long one cut with …."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = re.sub(r"^(?:[-*+]\s+|>\s*)", "", lines[0].strip())
    end = re.search(r"[。！？；!?;]", line)
    sentence = line[: end.end()] if end else line
    return sentence if len(sentence) <= _QUOTE_LIMIT else sentence[:_QUOTE_LIMIT] + "…"


class Citer:
    """Resolves refs against the index once each; refs the index lacks still cite by name."""

    def __init__(self, ctx: ToolContext):
        self.ctx = ctx
        self._memo: dict[Ref, Citation] = {}

    def __call__(self, ref: Ref) -> Citation:
        if ref not in self._memo:
            self._memo[ref] = self._resolve(ref)
        return self._memo[ref]

    def many(self, refs: list[Ref]) -> list[Citation]:
        return [self(r) for r in refs]

    def _resolve(self, ref: Ref) -> Citation:
        hits = self.ctx.index.find(ref.doc, clause_title=ref.section, groups=self.ctx.user.groups)
        if not hits:
            if self.ctx.index.count() == 0:
                raise IndexNotReadyError("知识库尚未建立索引：请先运行 `linkage index`")
            logger.warning("索引中找不到 %s 的“%s”一节", ref.doc, ref.section)
            return Citation(doc_id=ref.doc, section=ref.section, citation=f"{ref.doc} {ref.section}", quote="")
        return Citation(doc_id=ref.doc, section=ref.section, citation=hits[0].citation, quote=first_sentence(hits[0].text))


# ----- explaining a stage -----


class Deliverable(BaseModel):
    type: str
    name: str


class RequirementInfo(BaseModel):
    id: str
    requirement: str
    applies_to: str
    deliverables: list[Deliverable]
    clauses: list[Citation]
    confidence: str


class StageInfo(BaseModel):
    """Everything the workflow says about one stage, with its references resolved to citations."""

    id: str
    name: str
    position: int
    previous_stage: str | None
    next_stage: str | None
    summary: str
    activities: list[str]
    deliverables: list[Deliverable]
    entry_requirements: list[RequirementInfo]
    exit_requirements: list[RequirementInfo]
    refs: list[Citation]
    confidence: str


def _requirements(ctx: ToolContext, cite: Citer, stage: str | None) -> list[RequirementInfo]:
    if stage is None:
        return []
    flow = ctx.workflow
    return [
        RequirementInfo(
            id=r.id,
            requirement=r.name,
            applies_to=CONDITION_TEXT[r.when],
            deliverables=[Deliverable(type=e, name=flow.evidence_name(e)) for e in r.evidence],
            clauses=cite.many(r.clauses),
            confidence=r.confidence,
        )
        for r in flow.gate(stage)
    ]


def explain_stage(ctx: ToolContext, stage: str) -> StageInfo:
    """What a workflow stage involves: activities, deliverables, what is needed to enter and to leave it."""
    flow = ctx.workflow
    info = flow.stage(stage)
    position = flow.order.index(info.id)
    following = flow.next_stage(info.id)
    cite = Citer(ctx)
    return StageInfo(
        id=info.id,
        name=info.name,
        position=position + 1,
        previous_stage=flow.order[position - 1] if position else None,
        next_stage=following,
        summary=info.summary,
        activities=info.activities,
        deliverables=[Deliverable(type=d, name=flow.evidence_name(d)) for d in info.deliverables],
        entry_requirements=_requirements(ctx, cite, info.id),
        exit_requirements=_requirements(ctx, cite, following),
        refs=cite.many(info.refs),
        confidence=info.confidence,
    )

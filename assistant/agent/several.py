"""Questions about several projects: "P-2025-001 和 P-2025-003 哪个更接近立项？", "我的项目哪些能进入下一阶段？".

The route names the projects (or asks for every project the asker may see, optionally at one
stage); here the evidence is gathered for each one with the ordinary tools — the record, or the
deterministic readiness check — and the answer is composed per project by code. Projects the asker
may not see are treated exactly like ids that do not exist, so an answer never reveals them. At
most ``settings.max_projects_per_answer`` projects are covered; the answer says which were left out.
In LLM mode the model may add a short comparison, which is kept only if every project fact in it
agrees with these results (:func:`conflicts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assistant.agent.evidence import Scorer, content_tokens
from assistant.agent.offline import Composed, Composer
from assistant.agent.route import PROJECT_ID, Route
from assistant.agent.tools import SourceBook, ToolRun, evidence_block, render_sources
from assistant.errors import UnknownProjectError
from assistant.index import Hit
from assistant.tools.readiness import ReadinessReport
from assistant.tools.records import ProjectRecord

if TYPE_CHECKING:
    from assistant.agent.tools import Toolbox

_NOT_ASKED = frozenset({"比较", "对比", "一下", "分别", "各自", "哪个", "更", "情况", "项目", "compare", "each"})


@dataclass
class Covered:
    """One project of the answer: its record, the run that gathered its evidence, its readiness."""

    record: ProjectRecord
    run: ToolRun
    report: ReadinessReport | None = None
    beyond: bool = False  # readiness: already at or past the stage asked about (or at the last stage)

    @property
    def unmet(self) -> int:
        return sum(1 for item in self.report.items if item.status != "met") if self.report else 0


@dataclass
class ProjectSet:
    """The evidence for a question about several projects, in the order the answer shows them."""

    route: Route
    covered: list[Covered] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # named ids not visible to the asker (or not existing)
    omitted: list[str] = field(default_factory=list)  # visible, but beyond the cap
    beyond: list[ProjectRecord] = field(default_factory=list)  # "all my projects": already past the target
    visible: list[str] = field(default_factory=list)  # ids the asker may see (for "未找到" messages)

    @property
    def ids(self) -> list[str]:
        return [c.record.id for c in self.covered]


def gather(box: Toolbox, route: Route) -> ToolRun:
    """Run the record or readiness tool for each project; the returned run holds the :class:`ProjectSet`."""
    ctx, flow = box.ctx, box.ctx.workflow
    visible = ctx.records.visible(ctx.user.groups)
    found = ProjectSet(route, visible=[r.id for r in visible])
    if route.mine:
        wanted = flow.resolve_stage(route.stage) if route.stage else None
        records = [r for r in visible if wanted is None or flow.find_stage(r.stage) == wanted]
    else:
        records = []
        for pid in route.project_ids:
            try:
                records.append(ctx.records.get(pid, ctx.user.groups))
            except UnknownProjectError:
                found.unknown.append(pid)  # hidden or non-existent: the same to the asker
    if route.aspect == "readiness" and route.mine:
        found.beyond = [r for r in records if _past(flow, r, route.target_stage)]
        records = [r for r in records if r not in found.beyond]
    cap = ctx.settings.max_projects_per_answer
    records, found.omitted = records[:cap], [r.id for r in records[cap:]]

    for record in records:
        if route.aspect == "readiness" and not _past(flow, record, route.target_stage):
            box.check_readiness(record.id, route.target_stage)
            run = box.book.runs[-1]
            covered = Covered(record, run, run.result if isinstance(run.result, ReadinessReport) else None)
        elif route.aspect == "readiness":  # already past the stage: its record's stage is the answer
            run = ToolRun("get_project", {"project_id": record.id}, result=record)
            box.book.runs.append(run)
            covered = Covered(record, run, beyond=True)
        else:
            box.get_project(record.id)
            run = box.book.runs[-1]
            covered = Covered(record, run)
        render_sources(box.book, run, box._record_hits(record.id, "项目概况")[:1])  # every project is cited by its overview
        found.covered.append(covered)
    if route.aspect == "readiness":
        order = flow.order
        found.covered.sort(key=lambda c: (not c.beyond, -order.index(flow.resolve_stage(c.record.stage)) if c.beyond else 0,
                                          not (c.report and c.report.ready), c.unmet))
    sources = list(dict.fromkeys(n for c in found.covered for n in c.run.sources))
    return ToolRun("several_projects", {"project_ids": found.ids}, result=found, sources=sources)


def _past(flow, record: ProjectRecord, target: str | None) -> bool:
    """Already at or beyond ``target`` (None: at the last stage, with no next stage to check)."""
    current = flow.resolve_stage(record.stage)
    if target is None:
        return flow.next_stage(current) is None
    return flow.order.index(current) >= flow.order.index(flow.resolve_stage(target))


# ----- the deterministic answer -----


def compose(composer: Composer, found: ProjectSet, sources: dict[int, Hit], question: str) -> Composed:
    """One banner, the notes (unknown ids, the cap), a summary, then one section per project."""
    t, route = composer.t, found.route
    lines = notes(composer, found)
    if not found.covered:
        if not found.unknown:
            where = t(f"处于「{route.stage}」阶段的", f"at stage {route.stage} ") if route.stage else ""
            lines.append(t(f"当前用户没有可见的{where}项目。", f"You have no visible projects {where}".strip() + "."))
        if found.beyond:
            lines.append(_beyond_line(composer, found))
        return Composed("\n".join(lines), composer.cited, grounded=bool(found.beyond) or not found.unknown)
    if route.aspect == "readiness":
        head = t("以下结论来自确定性的阶段就绪检查（依据项目记录和流程门槛），逐个项目列出。", "Results of the deterministic stage-readiness check (project records vs. workflow gates), project by project.")
        lines.insert(0, composer.banner(head))
        lines += summary(composer, found)
        for covered in found.covered:
            lines += ["", *_readiness_section(composer, covered, sources, route.target_stage)]
    else:
        lines.insert(0, composer.banner(t("以下内容逐个摘自项目记录。", "From the project records, one by one.")))
        asked = _asked(composer.scorer, composer.focus)  # an English question's Chinese terms
        for covered in found.covered:
            hits = [sources[n] for n in covered.run.sources if n in sources]
            body = composer.project(covered.record, hits, asked).text.splitlines()[1:]
            lines += ["", f"▶ {body[0]}" if body else f"▶ {covered.record.id}", *body[1:]]
    return Composed("\n".join(lines), composer.cited, grounded=bool(composer.cited.items))


def one_draft_at_a_time(composer: Composer, ids: list[str]) -> Composed:
    """A draft is made per project: ask which one first (the ids are the asker's own words, nothing is revealed)."""
    listed = "、".join(ids)
    text = composer.t(f"一次只起草一个项目的材料，请指明先起草哪一个：{listed}（例如“帮我起草 {ids[0]} 的立项建议书”）。",
                      f"One draft per request: which project first — {listed}? (e.g. \"draft the proposal for {ids[0]}\")")
    return Composed(text, composer.cited, grounded=False)


def notes(composer: Composer, found: ProjectSet) -> list[str]:
    """What the answer does not cover, said plainly: ids not found, projects beyond the cap."""
    t, lines = composer.t, []
    if found.unknown:
        listed = "、".join(found.unknown)
        valid = "、".join(found.visible) or t("（无）", "(none)")
        lines.append(t(f"未找到项目：{listed}（编号不存在或你无权查看）。你可见的项目编号：{valid}。",
                       f"Projects not found: {listed} (no such id, or not visible to you). Project ids you can see: {valid}."))
    if found.omitted:
        cap = len(found.covered)
        total = cap + len(found.omitted)
        rest = "、".join(found.omitted)
        lines.append(t(f"（问题涉及 {total} 个项目，一次最多回答 {cap} 个，以下只列出 {cap} 个；未列出的 {rest} 请单独询问，或按阶段缩小范围。）",
                       f"(The question covers {total} projects; one answer covers at most {cap}. Not shown: {rest} — ask about them separately or narrow by stage.)"))
    return lines


def summary(composer: Composer, found: ProjectSet) -> list[str]:
    """Which projects are ready, which are not (closest first), which are past the stage asked about."""
    t, target = composer.t, found.route.target_stage
    ready = [c.record.id for c in found.covered if c.report and c.report.ready]
    waiting = [t(f"{c.record.id}（{c.unmet} 项未满足）", f"{c.record.id} ({c.unmet} unmet)") for c in found.covered if c.report and not c.report.ready]
    past = [f"{c.record.id}（{c.record.stage}）" for c in found.covered if c.beyond]
    lines = []
    if target and len(found.covered) > 1:
        first = found.covered[0]
        closest = t(f"已处于「{first.record.stage}」阶段" if first.beyond else "就绪" if first.report and first.report.ready else f"{first.unmet} 项未满足",
                    f"already at {first.record.stage}" if first.beyond else "ready" if first.report and first.report.ready else f"{first.unmet} unmet")
        lines.append(t(f"结论：离「{target}」最近的是 {first.record.id}（{closest}）。", f"Closest to {target}: {first.record.id} ({closest})."))
    if ready:
        lines.append(t("就绪：", "Ready: ") + "、".join(ready))
    if waiting:
        lines.append(t("尚不就绪：", "Not yet ready: ") + "、".join(waiting))
    if past:
        lines.append(t(f"已处于「{target}」或之后：" if target else "已处于最后阶段：", f"Already at or past {target}: " if target else "At the last stage: ") + "、".join(past))
    if found.beyond:
        lines.append(_beyond_line(composer, found))
    return lines


def _beyond_line(composer: Composer, found: ProjectSet) -> str:
    target = found.route.target_stage
    listed = "、".join(f"{r.id}（{r.stage}）" for r in found.beyond)
    if target:
        return composer.t(f"已处于「{target}」或之后、无需检查：{listed}", f"Already at or past {target} (not checked): {listed}")
    return composer.t(f"已处于最后阶段、无需检查：{listed}", f"At the last stage (not checked): {listed}")


def _readiness_section(composer: Composer, covered: Covered, sources: dict[int, Hit], target: str | None) -> list[str]:
    """One project's verdict and unmet requirements, each with the clauses it rests on."""
    t, record, report = composer.t, covered.record, covered.report
    hits = [sources[n] for n in covered.run.sources if n in sources]
    overview = next((h for h in hits if h.doc_id == record.id and h.clause_title == "项目概况"), None)
    marker = composer.cite(overview, f"项目名称：{record.name}") if overview else ""
    lines = [f"▶ {record.id} {record.name}{marker}"]
    if report is None:
        if covered.run.error:
            return [*lines, covered.run.error]
        where = t(f"已经过了「{target}」" if target else "没有下一阶段", f"past {target}" if target else "no later stage")
        return [*lines, t(f"当前处于「{record.stage}」阶段，{where}，无需检查。", f"At stage {record.stage}: {where}, nothing to check.")]
    verdict = t("就绪" if report.ready else "尚不就绪", "ready" if report.ready else "not yet ready")
    lines.append(t(f"当前处于「{report.current_stage}」阶段；进入「{report.target_stage}」：{verdict}。",
                   f"At stage {report.current_stage}; entering {report.target_stage}: {verdict}."))
    materials = next((h for h in hits if h.doc_id == record.id and h.clause_title == "已有材料"), None)
    for item in report.items:
        if item.status == "met":
            continue
        label = t("未完成" if item.status == "partial" else "缺失", item.status)
        evidence = composer._evidence_marker(item.evidence, materials) if item.status == "partial" else ""
        lines.append(f"- {label}{t('：', ': ')}{item.requirement}——{item.evidence}{evidence}{composer._clause_markers(item.clauses, hits, item.requirement)}")
    met = [item for item in report.items if item.status == "met"]
    if met:
        lines.append(t(f"已满足 {len(met)} 项：", f"Met ({len(met)}): ") + "；".join(i.requirement for i in met) + composer._evidence_marker(met[0].evidence, materials))
    return lines


def _asked(scorer: Scorer, question: str) -> list[str]:
    """What the question asks of each project ("专利布局"), without the ids and the comparing words."""
    return [t for t in content_tokens(question, scorer.user_dict) if not PROJECT_ID.fullmatch(t) and t not in _NOT_ASKED]


# ----- what the model is told, and how its comparison is checked -----


def facts(found: ProjectSet, zh: bool) -> str:
    """The code's results in plain lines, given to the model beside the evidence: it must agree with them."""
    lines = ["程序核对的项目信息（由代码根据项目记录和流程门槛得出；回答必须与之一致，只比较这些项目，用一两段话写出比较，不要逐项罗列清单）："]
    if not zh:
        lines[0] += "\nAnswer in English; quote Chinese names as they are."
    for c in found.covered:
        line = f"- {c.record.id}（{c.record.name}）：当前阶段「{c.record.stage}」"
        if c.report:
            verdict = "就绪" if c.report.ready else "尚不就绪"
            line += f"；进入「{c.report.target_stage}」：{verdict}"
            for status, label in (("missing", "缺失"), ("partial", "未完成"), ("met", "已满足")):
                items = [i.requirement for i in c.report.items if i.status == status]
                line += f"；{label}：{'、'.join(items)}" if items else ""
        elif c.beyond:
            line += f"；已经过了「{found.route.target_stage}」" if found.route.target_stage else "；已是最后阶段"
        lines.append(line)
    if found.route.target_stage and len(found.covered) > 1:
        lines.append(f"离「{found.route.target_stage}」最近的是 {found.covered[0].record.id}。")
    return "\n".join(lines)


def evidence(book: SourceBook, found: ProjectSet, scorer: Scorer, question: str) -> str:
    """The numbered chunks a comparison is written from: each project's overview, and its chunks about
    what is asked (readiness: its materials table). The clauses behind the checklists stay out: the
    checklists reach the answer without the model, and a short prompt is a fast one on a CPU model."""
    ids, asked = set(found.ids), _asked(scorer, scorer.focus(question))

    def wanted(hit: Hit) -> bool:
        if hit.doc_id not in ids or hit.clause_title == "项目概况":
            return hit.doc_id in ids
        if found.route.aspect == "readiness":
            return hit.clause_title == "已有材料"
        return not asked or scorer.coverage(asked, scorer.hit_text(hit)) > 0

    return evidence_block(book, {n for n, hit in book.hits.items() if wanted(hit)})


# ----- checking a model's comparison against the results -----

_CLAUSE = re.compile(r"[^。；;！!？?\n，,]+")
_NOT_READY = re.compile(r"不就绪|未就绪|尚不|还不|不能|不可以|无法|不具备|未满足|not (?:yet )?ready|cannot|can't|not eligible", re.IGNORECASE)
_READY = re.compile(r"就绪|可以进入|能进入|能够进入|具备|已满足|\bready\b|\bcan enter\b", re.IGNORECASE)
_MISSING = re.compile(r"缺|未完成|没有|尚未|missing|lacks?|unfinished", re.IGNORECASE)
_HAS = re.compile(r"已满足|已完成|已有|已具备|\bhas\b|\bmet\b|complete", re.IGNORECASE)
_STAGE_CUE = r"(?:处于|位于|当前(?:阶段)?(?:为|是|在)?|目前(?:在|是|为)?|现在(?:在|是)?|\bat(?: the)?(?: stage)?|\bin(?: the)?(?: stage)?)\s*[「“\"]?"
_ACHIEVED = re.compile(r"^已(?:就[^完]*)?(?:完成|编写|制定|明确|编制|取得|形成|通过|提交)?|（[^）]*）$")
_CLOSEST = re.compile(r"(?:更|最)(?:接近|靠近)|\bclos(?:er|est)\b", re.IGNORECASE)


def conflicts(text: str, found: ProjectSet, stages: list[str]) -> list[str]:
    """Project facts in a model's text that disagree with the results: ids, stages, verdicts, missing items.

    Each clause is read as being about the project it names, or the one named last before it.
    Ids the answer does not cover (unknown, hidden, left out by the cap) must not be written about.
    """
    known = {c.record.id: c for c in found.covered}
    wrong = [pid for pid in dict.fromkeys(p.upper() for p in PROJECT_ID.findall(text)) if pid not in known]
    subject: str | None = None
    for clause in _CLAUSE.findall(text):
        named = list(dict.fromkeys(p.upper() for p in PROJECT_ID.findall(clause)))
        if len(named) > 1:
            subject = None  # "P-1 比 P-2 更接近": a comparison the closest check below covers
            if _CLOSEST.search(clause) and found.covered and named[0] != found.covered[0].record.id and found.route.target_stage:
                wrong.append(f"{named[0]} 更接近")
            continue
        subject = named[0] if named else subject
        covered = known.get(subject) if subject else None
        if covered is None:
            continue
        wrong += _clause_conflicts(clause, covered, found, stages)
    return wrong


def _clause_conflicts(clause: str, covered: Covered, found: ProjectSet, stages: list[str]) -> list[str]:
    wrong = []
    pid = covered.record.id
    said = [m.group(1) for m in re.finditer(_STAGE_CUE + "(" + "|".join(sorted(stages, key=len, reverse=True)) + ")", clause, re.IGNORECASE)]
    wrong += [f"{pid} 阶段 {stage}" for stage in said if stage != covered.record.stage]
    if _CLOSEST.search(clause) and found.route.target_stage and found.covered and found.covered[0] is not covered:
        wrong.append(f"{pid} 最接近")
    report = covered.report
    if report is None:
        return wrong
    says_not = bool(_NOT_READY.search(clause))
    says_ready = not says_not and bool(_READY.search(clause)) and not _MISSING.search(clause)
    if (says_not and report.ready) or (says_ready and not report.ready):
        wrong.append(f"{pid} 结论")
    for item in report.items:
        if not any(name in clause for name in _names(item.requirement)):
            continue
        if item.status == "met" and _MISSING.search(clause) and not _HAS.search(clause):
            wrong.append(f"{pid} {item.requirement}")
        elif item.status != "met" and _HAS.search(clause) and not _MISSING.search(clause):
            wrong.append(f"{pid} {item.requirement}")
    return wrong


def _names(requirement: str) -> list[str]:
    """How a text may name a requirement: "已编写可行性研究报告" as itself, "可行性研究报告", or each alternative
    of "已完成知识产权检索或专利导航报告"."""
    thing = _ACHIEVED.sub("", requirement)
    return [requirement, thing, *(part for part in thing.split("或") if len(part) >= 4)]

"""Offline mode: a rule-based router over the same tools, and answers composed from their results.

Without a language model nothing is generated: a knowledge answer is the best-matching sentences
of the retrieved clauses, quoted verbatim; project answers come from the deterministic tools.
Questions that are out of scope or find no relevant evidence are declined, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from assistant.agent.citations import CitationList, best_quote, quote_units
from assistant.agent.conversations import Turn
from assistant.agent.evidence import Scorer, content_tokens, is_chinese, relevance_text
from assistant.agent.tools import SearchResult, ToolRun
from assistant.index import Hit
from assistant.tools.drafting import DEFAULT_KIND, Draft
from assistant.tools.readiness import ReadinessReport
from assistant.tools.records import ProjectRecord, ProjectSummary
from assistant.tools.workflow import Citation as ClauseRef
from assistant.tools.workflow import StageInfo, Workflow

PROJECT_ID = re.compile(r"\bP-\d{4}-\d{3}\b", re.IGNORECASE)
_OUT_OF_SCOPE = re.compile(
    r"天气|气温|下雨|股市|股票|彩票|星座|笑话|菜谱|做菜|减肥|电影|(?:写|作|来)(?:一)?[首篇段个]?.{0,8}(?:诗|歌词|小说|故事|作文)|(?:写|编)(?:一段|一个|个)?.{0,8}(?:代码|程序|脚本|函数)"
    r"|weather|joke|poem|recipe|movie|stock market",
    re.IGNORECASE,
)
_READINESS = re.compile(
    r"就绪|缺什么|缺少|还缺|缺哪些|缺了|差什么|还差|能否进入|能不能进入|可以进入|能进入|可否进入|是否可以进入|具备.{0,8}条件"
    r"|准备好|门槛|ready|readiness|missing",
    re.IGNORECASE,
)
_DRAFT = re.compile(r"起草|草拟|拟写|撰写|写一份|写个|生成.{0,8}(?:建议书|报告|材料)|\bdraft\b|\bwrite\b", re.IGNORECASE)
_ABOUT_DRAFTING = re.compile(r"谁.{0,4}起草|由谁|起草单位|起草人|哪些单位|哪家|起草了?(?:什么|哪些)|who drafted|drafted by", re.IGNORECASE)
_REQUEST = re.compile(r"帮我|请|给我|替我|\bplease\b|\bdraft (?:a|an|the)\b", re.IGNORECASE)
_LIST = re.compile(
    r"项目(?:列表|清单)|(?:有哪些|哪些|所有|全部|列出|列一下|查看|看到)(?:联动)?项目|\blist (?:the |all |my )?projects|which projects",
    re.IGNORECASE,
)
_ANAPHORA = re.compile(r"它|该项目|这个项目|此项目|这一项目|那个项目|上述项目|\bit\b|\bits\b|this project|that project", re.IGNORECASE)
_FOLLOW_UP = re.compile(
    r"^(?:那|那么|还有|另外|此外|它|and\b|what about|how about)|呢[？?]?$|它|(?<!应)该(?!项目)|这个|那个|上述|刚才|\bit\b",
    re.IGNORECASE,
)
_ENTER = re.compile(r"(?:进入|转入|迈入|到|enter(?:ing)?\s+(?:the\s+)?)\s*[「“\"]?(\S{2,4}?)[」”\"]?(?:阶段|stage)?", re.IGNORECASE)
_STANDARD_CODE = re.compile(r"(?:GB/T|GB/Z|T/[A-Z]+)\s*\d", re.IGNORECASE)
_MAX_SENTENCES = 4
_SEARCH_K = 8  # clauses an extractive answer chooses its sentences from

# What kind of answer a question wants, and what a sentence giving it looks like.
_ANSWER_TYPES: list[tuple[re.Pattern, re.Pattern, float]] = [
    (re.compile(r"谁|(?:哪些|哪个|哪家|什么)(?:单位|机构).{0,6}(?:起草|牵头|归口|负责|组织|参与)|\bwho\b|which organi[sz]ation", re.I), re.compile(r"研究院|研究会|协会|委员会|公司|大学|单位|中国移动"), 0.4),
    (re.compile(r"什么时候|何时|哪年|哪一年|时间|\bwhen\b", re.I), re.compile(r"(?:19|20)\d{2}\s*年"), 0.4),
    (re.compile(r"什么是|是什么|指什么|含义|定义|意思|\bwhat is\b|\bdefin|\bmean", re.I), re.compile(r"^[^，。]{1,20}(?:是指|指的是|是)"), 0.3),
    (re.compile(r"吗[？?]?\s*$|是否|\b(?:does|is|are) (?:it|there|the)\b", re.I), re.compile(r"不(?:涉及|需要|适用|属于|包括|得)|无|没有|并非|不是"), 0.2),
    (re.compile(r"哪些|哪几|几个|几种|包括|有什么|列举|\bwhat are\b|\bwhich\b|\blist\b", re.I), re.compile(r"(?:[^、]+、){3,}|一是.+二是|：.+；"), 0.25),
]


@dataclass
class Plan:
    """What the router decided: tool calls, and what a follow-up should remember."""

    calls: list[tuple[str, dict]] = field(default_factory=list)
    project_id: str | None = None
    topic: str | None = None
    out_of_scope: bool = False
    needs_project: bool = False


def _stages_in(text: str, flow: Workflow) -> list[str]:
    """Workflow stages a question names (成果运用 before 运用, 评价改进 before 评价)."""
    found = []
    for stage in sorted(flow.order, key=len, reverse=True):
        if stage in text and not any(stage in f for f in found):
            found.append(stage)
    return found


def _target_stage(question: str, flow: Workflow) -> str | None:
    for match in _ENTER.finditer(question):
        for stage in _stages_in(match.group(0), flow):
            return stage
    return None


def split_questions(text: str) -> list[str]:
    """The separate questions in one message ("…是什么？…有哪些？"); short fragments stay attached."""
    parts: list[str] = []
    for piece in re.split(r"(?<=[？?])", text.strip()):
        piece = piece.strip()
        if not piece:
            continue
        if parts and len(piece) < 4:
            parts[-1] += piece
        else:
            parts.append(piece)
    return parts or [text]


def plan(question: str, flow: Workflow, project_id: str | None, previous: Turn | None) -> Plan:
    """Route a question to tools by rules and keywords, resolving follow-ups against the last turn."""
    text = question.strip()
    if _OUT_OF_SCOPE.search(text):
        return Plan(out_of_scope=True)
    named = [m.upper() for m in PROJECT_ID.findall(text)]
    remembered = project_id or (previous.project_id if previous else None)
    refers_back = bool(_ANAPHORA.search(text))
    readiness = bool(_READINESS.search(text))
    drafting = bool(_DRAFT.search(text)) and not _ABOUT_DRAFTING.search(text)

    if readiness or drafting:
        pid = named[0] if named else remembered
        if pid:
            if drafting:
                kind = "团体标准项目建议书" if re.search(r"团体标准|标准项目建议书|standard proposal", text, re.I) else DEFAULT_KIND
                return Plan(calls=[("draft_proposal", {"project_id": pid, "kind": kind})], project_id=pid, topic="draft")
            args = {"project_id": pid, "target_stage": _target_stage(text, flow)}
            return Plan(calls=[("check_readiness", args)], project_id=pid, topic="readiness")
        if refers_back or (drafting and _REQUEST.search(text)):  # "帮我起草立项建议书" but for which project?
            return Plan(needs_project=True)
    if _LIST.search(text) and not named:
        stages = _stages_in(text, flow)
        return Plan(calls=[("list_projects", {"stage": stages[0] if len(stages) == 1 else None})], topic="projects")
    if named or (refers_back and remembered):
        pid = named[0] if named else remembered
        return Plan(calls=[("get_project", {"project_id": pid})], project_id=pid, topic="project")
    stages = _stages_in(text, flow)
    if len(stages) == 1 and not _STANDARD_CODE.search(text) and _asks_about_stage(text, stages[0]):
        return Plan(calls=[("explain_stage", {"stage": stages[0]})], project_id=remembered, topic=stages[0])
    query = text
    if previous and previous.topic and previous.topic not in ("draft", "readiness", "projects", "project") and _FOLLOW_UP.search(text):
        query = f"{previous.topic} {text}"
    return Plan(calls=[("search_knowledge", {"query": query, "k": _SEARCH_K})], project_id=remembered, topic=_topic(query))


def _asks_about_stage(text: str, stage: str) -> bool:
    """"立项阶段要做什么" is about the stage itself; "评价改进阶段的评价维度" and "立项建议书怎么写" are not."""
    generic = r"(?:要|需要|应该|应当|主要)?(?:做什么|做哪些|干什么|有哪些活动|活动|交付物?|的?门槛|条件|需要哪些|要哪些|要求|是什么|包括什么)"
    return bool(re.search(rf"(?:项目)?{stage}(?:阶段|环节|步骤)?的?{generic}|什么是(?:项目)?{stage}", text))


def _topic(query: str) -> str:
    """What a follow-up question is probably still about: the query, kept short."""
    return query if len(query) <= 60 else query[-60:]


# ----- composing answers -----


@dataclass
class Composed:
    text: str
    citations: CitationList
    grounded: bool


class Composer:
    """Turns the tool runs of one offline turn into an answer in the asker's language."""

    def __init__(self, question: str, scorer: Scorer, min_relevance: float, cited: CitationList | None = None):
        self.question = question
        self.zh = is_chinese(question)
        self.scorer = scorer
        self.focus = relevance_text(question, scorer.index.settings.corpus_dir / "glossary.yaml")
        self.min_relevance = min_relevance
        self.cited = cited if cited is not None else CitationList()  # shared when answering a question in parts

    def t(self, zh: str, en: str) -> str:
        return zh if self.zh else en

    def cite(self, hit: Hit, quote: str | None = None, claim: str = "") -> str:
        """" [n]" for a chunk, with a verbatim quote (the given one, or the best sentence for ``claim``)."""
        if not quote or quote not in hit.text:
            quote = best_quote(hit, claim or self.question, self.scorer)
        n = self.cited.add(hit, quote)
        return f" [{n}]" if n else ""

    def banner(self, what: str) -> str:
        return self.t(f"【离线模式】{what}", f"[Offline mode] {what}")

    # --- refusals ---
    def decline(self, out_of_scope: bool) -> Composed:
        if out_of_scope:
            head = self.t(
                "这个问题超出了联动助手的范围。我只回答技术、专利和标准联动工作方面的问题，不作猜测。",
                "This question is outside what the Linkage Assistant covers (technology–patent–standard linkage work), so I won't guess.",
            )
        else:
            head = self.t(
                "知识库中没有找到与这个问题相关的内容，所以我不作猜测。",
                "I found nothing relevant in the knowledge base, so I won't guess.",
            )
        hint = self.t(
            "可以这样问：\n- 联动指南的工作流程有哪些阶段？\n- GB/T 20003.1-2014 对专利许可声明有什么要求？\n- P-2025-001 能进入立项吗？\n"
            "如果相关资料还不在知识库中，可以请管理员用 `linkage index 文件或文件夹` 把它加入。",
            "You could ask, for example:\n- What are the stages of the linkage workflow?\n"
            "- What does GB/T 20003.1-2014 require for licensing declarations?\n- Is P-2025-001 ready for 立项?\n"
            "If the material you need is not indexed yet, an administrator can add it with `linkage index <files>`.",
        )
        return Composed(f"{head}\n{hint}", self.cited, grounded=False)

    def needs_project(self, visible: list[str]) -> Composed:
        listed = "、".join(visible) if visible else self.t("（当前用户没有可见的项目）", "(none visible to you)")
        return Composed(
            self.t(
                f"请说明是哪个项目（项目编号，例如 P-2025-001）。你可见的项目：{listed}",
                f"Which project do you mean? Please give its id (e.g. P-2025-001). Projects you can see: {listed}",
            ),
            self.cited,
            grounded=False,
        )

    def error(self, message: str) -> Composed:
        return Composed(message, self.cited, grounded=False)

    # --- knowledge answers ---
    def knowledge(self, result: SearchResult) -> Composed:
        """The best sentences of the relevant clauses, quoted verbatim with their sources."""
        if not result.hits:
            return self.decline(out_of_scope=False)
        tokens = self.scorer.known(content_tokens(self.focus, self.scorer.user_dict)) or result.tokens
        picked = self._pick(result.hits, tokens)
        lines = [self.banner(self.t("以下句子摘自知识库原文（抽取式回答，未经大模型改写）：", "Extractive answer — sentences quoted from the knowledge base (Chinese originals), no language model involved:"))]
        for number, (hit, sentence) in enumerate(picked, 1):
            lines.append(f"{number}. {_display(sentence)}{self.cite(hit, sentence)}")
        return Composed("\n".join(lines), self.cited, grounded=bool(self.cited.items))

    def scored_sentences(self, hits: list[Hit], tokens: list[str]) -> list[tuple[float, Hit, str]]:
        """Every quotable sentence, best first: overlap with the question (the clause's standard and
        title count as context), similarity of its chunk, the kind of answer asked for, novelty."""
        wanted = [(shape, weight) for asks, shape, weight in _ANSWER_TYPES if asks.search(self.question)]
        scored: list[tuple[float, int, Hit, str]] = []
        # A clause found only by keywords has no similarity; it passed relevance, so it counts as
        # close as the least similar clause that dense search returned.
        floor = min((h.dense_similarity for h in hits if h.dense_similarity is not None), default=self.min_relevance)
        for rank, hit in enumerate(hits):
            dense = hit.dense_similarity if hit.dense_similarity is not None else floor
            closeness = max(0.0, (dense - self.min_relevance) / max(1e-6, 1 - self.min_relevance))
            named = 0.3 if hit.clause_title and hit.clause_title in self.focus else 0.0
            for position, sentence in enumerate(quote_units(hit.text)):
                overlap = self.scorer.coverage(tokens, f"{hit.standard} {hit.clause_title} {sentence}")
                own = self.scorer.coverage(tokens, sentence)
                shape = sum(weight for pattern, weight in wanted if pattern.search(sentence))
                stated = 0.1 if "〔编制说明" in sentence else -0.1 if "〔可能〕" in sentence else 0.0
                novelty = self._novelty(sentence, tokens)
                score = overlap + 0.5 * own + 0.6 * closeness + named + shape + stated + 0.6 * novelty - 0.03 * rank - 0.01 * position
                scored.append((score, len(scored), hit, sentence))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [(score, hit, sentence) for score, _, hit, sentence in scored]

    def _pick(self, hits: list[Hit], tokens: list[str]) -> list[tuple[Hit, str]]:
        """The top sentences, at most three per clause and no near-duplicates."""
        scored = self.scored_sentences(hits, tokens)
        picked: list[tuple[Hit, str]] = []
        per_chunk: dict[str, int] = {}
        for score, hit, sentence in scored:
            if len(picked) == _MAX_SENTENCES or (picked and score < 0.8 * scored[0][0]):
                break
            if per_chunk.get(hit.id, 0) >= 3 or any(_similar(sentence, s) for _, s in picked):
                continue
            picked.append((hit, sentence))
            per_chunk[hit.id] = per_chunk.get(hit.id, 0) + 1
        return picked

    def _novelty(self, sentence: str, tokens: list[str]) -> float:
        """Share of a sentence that is not the question echoed back ("X对Y提出了要求" tells nothing)."""
        own = content_tokens(sentence, self.scorer.user_dict)
        return sum(1 for t in own if t not in tokens) / len(own) if own else 0.0

    # --- project answers ---
    def project(self, record: ProjectRecord, hits: list[Hit], asked: list[str]) -> Composed:
        """A project overview, or the record lines that answer a specific question about it."""
        overview = next((h for h in hits if h.clause_title == "项目概况"), None)
        lines = [self.banner(self.t(f"以下内容摘自项目记录 {record.id}。", f"From project record {record.id}."))]
        if overview:
            head = next((u for u in overview.text.splitlines() if u.startswith("项目名称")), "")
            stage = next((u for u in overview.text.splitlines() if u.startswith("当前阶段")), "")
            lines.append(f"{record.id}：{record.name}（{record.stage}）{self.cite(overview, head or stage)}")
        if asked:
            for hit, sentence in self._pick(hits, asked):
                lines.append(f"- {_display(sentence)}{self.cite(hit, sentence)}")
        elif overview:
            for line in overview.text.splitlines()[2:]:
                lines.append(f"- {line}{self.cite(overview, head or line)}")
        return Composed("\n".join(lines), self.cited, grounded=bool(self.cited.items))

    def projects(self, projects: list[ProjectSummary], hits: list[Hit], stage: str | None) -> Composed:
        if not projects:
            where = self.t(f"处于「{stage}」阶段的", f"at stage {stage} ") if stage else ""
            return Composed(self.t(f"当前用户没有可见的{where}项目。", f"You have no visible projects {where}".strip() + "."), self.cited, grounded=True)
        lines = [self.banner(self.t(f"你可见的项目（{len(projects)} 个）：", f"Projects you can see ({len(projects)}):"))]
        for p in projects:
            hit = next((h for h in hits if h.doc_id == p.id), None)
            marker = self.cite(hit, f"项目名称：{p.name}") if hit else ""
            lines.append(f"- {p.id} {p.name}（{self.t('当前阶段', 'stage')}：{p.stage}；{p.department}）{marker}")
        return Composed("\n".join(lines), self.cited, grounded=True)

    def _clause_markers(self, refs: list[ClauseRef], hits: list[Hit], claim: str) -> str:
        markers = []
        for ref in refs:
            hit = next((h for h in hits if h.doc_id == ref.doc_id and h.clause_title == ref.section), None)
            if hit:
                markers.append(self.cite(hit, claim=claim).strip())
        return (" " + "".join(dict.fromkeys(m for m in markers if m))) if any(markers) else ""

    def readiness(self, report: ReadinessReport, hits: list[Hit]) -> Composed:
        """The deterministic verdict, requirement by requirement, with the clauses behind each."""
        materials = next((h for h in hits if h.doc_id == report.project_id and h.clause_title == "已有材料"), None)
        verdict = (
            self.t(f"可以进入「{report.target_stage}」（就绪）", f"is ready to enter {report.target_stage}")
            if report.ready
            else self.t(f"尚不具备进入「{report.target_stage}」的条件（不就绪）", f"is not yet ready to enter {report.target_stage}")
        )
        lines = [
            self.banner(self.t("以下结论来自确定性的阶段就绪检查（依据项目记录和流程门槛）。", "Result of the deterministic stage-readiness check (project record vs. workflow gates).")),
            self.t(f"项目 {report.project_id} 当前处于「{report.current_stage}」阶段，{verdict}。", f"Project {report.project_id} is at stage {report.current_stage} and {verdict}."),
        ]
        unmet = [i for i in report.items if i.status != "met"]
        met = [i for i in report.items if i.status == "met"]
        if unmet:
            lines.append(self.t("还缺少或未完成：", "Missing or unfinished:"))
            for item in unmet:
                label = self.t("未完成" if item.status == "partial" else "缺失", item.status)
                evidence = self._evidence_marker(item.evidence, materials) if item.status == "partial" else ""
                lines.append(f"- {label}：{item.requirement}——{item.evidence}{evidence}{self._clause_markers(item.clauses, hits, item.requirement)}")
        if met:
            lines.append(self.t("已满足：", "Already met: ") + "；".join(i.requirement for i in met) + self._evidence_marker(met[0].evidence, materials))
        if report.next_actions:
            lines.append(self.t("下一步：", "Next steps:"))
            lines += [f"{n}. {action}" for n, action in enumerate(report.next_actions, 1)]
        return Composed("\n".join(lines), self.cited, grounded=True)

    def _evidence_marker(self, evidence: str, materials: Hit | None) -> str:
        """Cite the record's materials table at the row naming this evidence."""
        if materials is None:
            return ""
        title = re.search(r"《([^》]+)》", evidence)
        row = next((r for r in materials.text.splitlines() if title and title.group(1) in r), "")
        return self.cite(materials, row)

    def stage(self, info: StageInfo, hits: list[Hit]) -> Composed:
        position = self.t(f"是联动工作流程六个阶段中的第 {info.position} 步", f"is step {info.position} of the linkage workflow")
        neighbours = "".join(
            part
            for part in (
                self.t(f"，上一步是「{info.previous_stage}」", f", after {info.previous_stage}") if info.previous_stage else "",
                self.t(f"，下一步是「{info.next_stage}」", f", before {info.next_stage}") if info.next_stage else "",
            )
        )
        lines = [
            self.banner(self.t("以下内容来自工作流程定义及其依据条款。", "From the workflow definition and the clauses it rests on.")),
            f"「{info.id}」（{info.name}）{position}{neighbours}。{info.summary}{self._clause_markers(info.refs[:1], hits, info.summary)}",
            self.t("主要活动：", "Activities: ") + "；".join(info.activities),
            self.t("交付物：", "Deliverables: ") + "、".join(d.name for d in info.deliverables),
        ]
        for title, items in (
            (self.t(f"进入「{info.id}」需要：", f"To enter {info.id}:"), info.entry_requirements),
            (self.t(f"进入下一阶段「{info.next_stage}」需要：", f"To move on to {info.next_stage}:"), info.exit_requirements),
        ):
            if items:
                lines.append(title)
                lines += [f"- {r.requirement}（{self.t('适用', 'applies to')}：{r.applies_to}）{self._clause_markers(r.clauses[:1], hits, r.requirement)}" for r in items]
        return Composed("\n".join(lines), self.cited, grounded=True)

    def draft(self, draft: Draft, hits: list[Hit], project_id: str) -> Composed:
        overview = next((h for h in hits if h.clause_title == "项目概况"), None)
        marker = self.cite(overview, next((u for u in overview.text.splitlines() if u.startswith("项目名称")), "")) if overview else ""
        missing = "；".join(draft.missing) if draft.missing else self.t("无", "none")
        lines = [
            self.banner(self.t("草稿完全根据项目记录生成，记录中没有的信息标为【待补充】，不作编造。", "The draft is built from the project record only; anything the record lacks is marked 【待补充】.")),
            self.t(f"已为项目 {project_id} 起草《{draft.filename}》{marker}。", f"Drafted {draft.filename} for project {project_id}{marker}."),
            self.t(f"需要补充或核对：{missing}", f"To fill in or check: {missing}"),
            "",
            draft.text.strip(),
        ]
        return Composed("\n".join(lines), self.cited, grounded=True)

    def compose(self, run: ToolRun, sources: dict[int, Hit], asked: list[str]) -> Composed:
        """The answer for the one tool run the router made."""
        if run.error:
            return self.error(run.error)
        hits = [sources[n] for n in run.sources]
        result = run.result
        if isinstance(result, SearchResult):
            return self.knowledge(result)
        if isinstance(result, ReadinessReport):
            return self.readiness(result, hits)
        if isinstance(result, StageInfo):
            return self.stage(result, hits)
        if isinstance(result, Draft):
            return self.draft(result, hits, run.args["project_id"])
        if isinstance(result, ProjectRecord):
            return self.project(result, hits, asked)
        return self.projects(result or [], hits, run.args.get("stage"))


def _display(unit: str) -> str:
    """A table row reads as "a｜b｜c" in an answer; its quote keeps the row as stored."""
    if unit.startswith("|"):
        return "｜".join(cell.strip() for cell in unit.strip("|").split("|"))
    return unit


def _similar(a: str, b: str) -> bool:
    """Near-duplicate sentences (the same fact told by the summary and by the note)."""
    shorter, longer = sorted((a, b), key=len)
    return shorter in longer or len(set(shorter) & set(longer)) > 0.85 * len(set(shorter))

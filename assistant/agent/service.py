"""The one service layer every surface (CLI, HTTP, Slack, DingTalk) calls.

``ask``/``ask_stream`` run one pipeline in both modes: understand (a typed route) → gather the
evidence with the tools, deterministically → compose (extractive offline; in LLM mode the model
writes from the numbered evidence, and code-made results — readiness, drafts, stages, lists — go
to the answer directly) → verify → store. A model's reply that cannot be verified is replaced by
the extractive answer from the same evidence, or an honest decline. The other methods are thin
pass-throughs to the deterministic tools, so surfaces never reach the index or the records directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from assistant.agent import several
from assistant.agent.citations import CitationList, cite_markers, renumbered, verify
from assistant.agent.conversations import ConversationStore, Turn, new_conversation_id
from assistant.agent.evidence import Scorer, content_tokens, is_chinese
from assistant.agent.grounding import text_tool_calls, unsupported_facts, without_wrappers
from assistant.agent.models import AgentEvent, Answer, Citation, ToolCall
from assistant.agent.offline import Composed, Composer
from assistant.agent.route import PROJECT_ID, Route, project_named, several_topic, split_questions, understand
from assistant.agent.tools import SourceBook, Toolbox, ToolRun, build_tools, evidence_block
from assistant.errors import InvalidQuestionError, LinkageError, LLMError, UnknownConversationError
from assistant.index import Hit, IndexReport, KnowledgeIndex, Progress
from assistant.index.embeddings import relevance_floor
from assistant.settings import Settings
from assistant.storage.database import Database, database_url
from assistant.tools import drafting, readiness, records, search, workflow
from assistant.tools.context import ToolContext, User

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # the LLM stack (LangChain agents, openai) is imported only when a model is used
    from langchain_core.language_models import BaseChatModel

Gathered = tuple[str, Route, ToolRun | None]  # (question part, its route, the evidence its tool gathered)
_NOT_ASKED = frozenset({"项目", "介绍", "情况", "信息", "概况", "详细", "project", "details"})


class AssistantService:
    """Answers questions and runs tools on behalf of a user; remembers conversations and feedback."""

    def __init__(self, settings: Settings, index: KnowledgeIndex | None = None, chat_model: BaseChatModel | None = None):
        self.settings = settings
        self._ctx = ToolContext(settings, _index=index)
        self._chat_model = chat_model
        self._store: ConversationStore | None = None
        self._generation: int | None = None
        self._store_lock = threading.Lock()

    # ----- plumbing -----
    @property
    def mode(self) -> Literal["llm", "offline"]:
        return "llm" if self._chat_model is not None or self.settings.llm_configured else "offline"

    @property
    def store(self) -> ConversationStore:
        """Opened (and migrated) on first use; a failure (StorageError) is retried on the next call."""
        with self._store_lock:
            if self._store is None:
                self._store = ConversationStore(Database(database_url(self.settings), self.settings.database_pool_size))
        return self._store

    def context(self, user: User) -> ToolContext:
        """The shared index, records and workflow, acting for ``user``, on the latest committed index."""
        self._follow_index()
        return self._ctx.for_user(user)

    def _follow_index(self) -> None:
        """A re-index by any process takes effect on the next request: records and workflow are read again."""
        generation = self._ctx.index.refresh()
        if generation != self._generation:
            if self._generation is not None:
                self._ctx.reload_knowledge_files()
            self._generation = generation

    def _model(self) -> BaseChatModel:
        from assistant.agent.llm import chat_model

        if self._chat_model is None:
            self._chat_model = chat_model(self.settings)
        return self._chat_model

    def index_ready(self) -> bool:
        """Whether the knowledge index holds anything (for readiness probes); a damaged one raises."""
        self._follow_index()
        return self._ctx.index.count() > 0

    def warm_up(self) -> None:
        """Load now what the first questions would otherwise wait for: the index, the embedding
        model, the corpus's words and the English–Chinese dictionary (a server's first English
        question took 2.5 s more than the next). Nothing to load yet is no error: the service starts."""
        from assistant.index.dictionary import chinese_words

        chinese_words("warm", lambda word: False)
        try:
            self.search(User.local_admin(), "联动工作流程 workflow")
        except LinkageError as exc:  # not indexed yet, or a damaged index that /readyz names
            log.info("warm-up skipped: %s", exc)

    def validate_question(self, question: str) -> str:
        """The question stripped, or InvalidQuestionError with a message the user can act on."""
        text = (question or "").strip()
        if not text:
            raise InvalidQuestionError("问题不能为空，请输入要咨询的内容。")
        if len(text) > self.settings.max_question_chars:
            raise InvalidQuestionError(
                f"问题太长（{len(text)} 个字符），请精简到 {self.settings.max_question_chars} 个字符以内，"
                "或把长文档用 `linkage index` 加入知识库后再提问。"
            )
        return text

    # ----- questions -----
    def ask(self, question: str, user: User, conversation_id: str | None = None, project_id: str | None = None) -> Answer:
        """Answer one question (a follow-up when ``conversation_id`` names an earlier conversation)."""
        text = self.validate_question(question)
        for event in self._events(text, user, conversation_id, project_id, stream=False):
            if event.type == "final":
                return event.answer
        raise LLMError("没有得到回答，请重试。")  # pragma: no cover - _events always ends with a final event

    def ask_stream(
        self, question: str, user: User, conversation_id: str | None = None, project_id: str | None = None
    ) -> Iterator[AgentEvent]:
        """Like :meth:`ask`, as events: a step per tool call, answer tokens, then the final answer.

        The question is validated before anything streams (InvalidQuestionError is raised here);
        a failure later on arrives as one ``error`` event with a message safe to show.
        """
        text = self.validate_question(question)
        if conversation_id and not self.store.claim(conversation_id, user.name):
            raise UnknownConversationError(conversation_id)  # before anything streams: a plain 404

        def events() -> Iterator[AgentEvent]:
            try:
                yield from self._events(text, user, conversation_id, project_id, stream=True)
            except LinkageError as exc:
                yield AgentEvent(type="error", text=str(exc))

        return events()

    def _events(self, question: str, user: User, conversation_id: str | None, project_id: str | None, stream: bool) -> Iterator[AgentEvent]:
        conversation_id = conversation_id or new_conversation_id()
        if not self.store.claim(conversation_id, user.name):
            raise UnknownConversationError(conversation_id)
        turns = self.store.history(conversation_id, user.name)
        previous = turns[-1] if turns else None
        ctx = self.context(user)
        book = SourceBook()
        scorer = Scorer(ctx.index, user.groups)
        box = Toolbox(ctx, book, scorer)
        project_id = project_id.strip().upper() if project_id else None

        # 1. understand, 2. gather the evidence — the same in both modes, before any model call
        gathered: list[Gathered] = []
        for part, route in self._understand(question, ctx, project_id, previous):
            if route.kind == "several":  # one tool run per project, announced as they are made
                steps = len(book.runs)
                gathered.append((part, route, box.gather(route)))
                for run in book.runs[steps:]:
                    yield AgentEvent(type="step", tool=run.name, args=run.args)
                continue
            if not route.declined:
                yield AgentEvent(type="step", tool=_TOOL_OF[route.kind], args=_step_args(route))
            gathered.append((part, route, box.gather(route)))
        routes = [route for _, route, _ in gathered]

        # 3. compose: the model writes only knowledge and project answers; code-made results go directly
        shared = CitationList()
        if self.mode == "llm" and [r.kind for r in routes] == ["several"]:
            composed = self._compose_several_llm(question, gathered[0], box, shared, ctx, user, turns)
        elif self.mode == "llm" and (all(r.kind == "knowledge" for r in routes) or [r.kind for r in routes] == ["project"]):
            steps = len(book.runs)
            composed = self._compose_llm(question, gathered, box, shared, ctx, user, turns, project_id)
            for run in book.runs[steps:]:  # tools run for the model (a second search, a call written as text)
                yield AgentEvent(type="step", tool=run.name, args=run.args)
        else:
            composed = self._extractive(gathered, book, ctx, scorer, shared, "offline" if self.mode == "offline" else "llm")
        text, citations = verify(composed.text, composed.citations.items, ctx.index)  # 4. verify
        remembered = _used_project(book) or _quoted_project(citations) or routes[-1].project_id or (previous.project_id if previous else None)
        topic = routes[-1].topic or (previous.topic if previous else None)
        if routes[-1].kind == "several":
            remembered, topic = None, _several_topic(routes[-1], gathered[-1][2])  # "它" is ambiguous; "第二个" is not
        elif routes[-1].kind == "projects" and gathered[-1][2] and not gathered[-1][2].error:
            topic = _several_topic(routes[-1], gathered[-1][2])

        # 5. store
        grounded = composed.grounded and (bool(citations) or not book.hits)
        answer = Answer(
            answer=text,
            mode=self.mode,
            citations=citations,
            tool_calls=[ToolCall(name=run.name, args=run.args) for run in book.runs],
            conversation_id=conversation_id,
            grounded=grounded,
        )
        self.store.add_turn(conversation_id, user.name, question, answer, remembered, topic)
        if stream:  # only verified text is ever streamed
            for line in text.splitlines(keepends=True):
                yield AgentEvent(type="token", text=line)
        yield AgentEvent(type="final", answer=answer)

    def _understand(self, question: str, ctx: ToolContext, project_id: str | None, previous: Turn | None) -> list[tuple[str, Route]]:
        """The routes of a message: "X是什么？Y有哪些？" part by part when every part is a knowledge question."""
        glossary = self.settings.glossary_path
        parts = split_questions(ctx.index.spelled_standards(question, ctx.user.groups))
        question = "".join(parts)  # without a closing remark that asks nothing
        routes = [understand(part, ctx.workflow, project_id, previous, glossary) for part in parts]
        # a project named by its words is no id the rules see: "…那个项目可以往评估走了吗" asks for a project
        unresolved = all(r.kind in ("knowledge", "needs_project") for r in routes) and not PROJECT_ID.search(question)
        named = project_named(question, ctx) if unresolved else None
        if named:  # "某某那个项目谁牵头？总共预算多少万？": the whole message is about that project
            route = understand(question, ctx.workflow, named, previous, glossary)  # "…还差什么？" is its readiness
            return [(question, route if route.project_id == named and route.kind != "knowledge" else Route("project", project_id=named, topic="project"))]
        if len(parts) > 1 and all(r.kind == "knowledge" for r in routes):
            for route in routes[1:]:  # later parts often leave the subject to the first ("由哪些单位起草？")
                route.query = f"{route.query} {parts[0]}"
            return list(zip(parts, routes))
        route = understand(question, ctx.workflow, project_id, previous, glossary)
        if route.kind == "knowledge" and not PROJECT_ID.search(question) and (named := project_named(question, ctx)):
            route = Route("project", project_id=named, topic="project")
        return [(question, route)]

    def _extractive(
        self, gathered: list[Gathered], book: SourceBook, ctx: ToolContext, scorer: Scorer, cited: CitationList, label: str
    ) -> Composed:
        """The answer code composes from the gathered evidence (offline, code-made results, fallbacks)."""
        sections: list[Composed] = []
        for part, route, run in gathered:
            composer = Composer(part, scorer, relevance_floor(self.settings), cited, label=label)
            if sections and not sections[0].grounded and route.kind == "knowledge":
                # "许可费是多少？被许可方是谁？": later parts lean on the first, which the knowledge base does not answer
                sections.append(composer.decline(out_of_scope=False))
            elif route.kind == "out_of_scope":
                sections.append(composer.decline(out_of_scope=True))
            elif route.kind == "needs_project" and route.project_ids:
                sections.append(several.one_draft_at_a_time(composer, route.project_ids))
            elif route.kind == "needs_project" or run is None:
                sections.append(composer.needs_project([p.id for p in records.list_projects(ctx)]))
            elif route.kind == "several":
                sections.append(several.compose(composer, run.result, book.hits, part))
            else:
                # an English question about a record is matched on the Chinese terms it names
                asked_text = scorer.focus(route.query if route.kind == "project" and route.query else part)
                asked = [t for t in content_tokens(asked_text, scorer.user_dict) if not PROJECT_ID.fullmatch(t) and t not in _NOT_ASKED]
                sections.append(composer.compose(run, book.hits, asked))
        if len(sections) == 1:
            return sections[0]
        return Composed(_join_parts([part for part, _, _ in gathered], sections), cited, grounded=any(c.grounded for c in sections))

    def _compose_llm(
        self, question: str, gathered: list[Gathered], box: Toolbox, cited: CitationList,
        ctx: ToolContext, user: User, turns: list[Turn], project_id: str | None,
    ) -> Composed:
        """The model writes from the evidence (one call); what it writes reaches the user only if it checks out."""
        from assistant.agent.llm import compose_messages, history_messages, write

        book = box.book
        route = gathered[-1][1]
        if not book.hits and route.kind == "knowledge" and self.settings.llm_tool_calls:
            return self._search_again(question, box, cited, ctx, user, turns, project_id)
        if not book.hits:
            return self._extractive(gathered, book, ctx, box.scorer, cited, "llm")
        messages = compose_messages(self.settings, user, route.project_id or project_id, question, evidence_block(book), history_messages(turns))
        reply = write(self.settings, self._model(), messages)
        return self._checked(reply.text, reply.cut_off, question, gathered, box, cited, ctx)

    def _search_again(
        self, question: str, box: Toolbox, cited: CitationList, ctx: ToolContext, user: User, turns: list[Turn], project_id: str | None
    ) -> Composed:
        """Nothing relevant was found: a tool-calling model may search again with other words."""
        from langchain_core.messages import HumanMessage

        from assistant.agent.llm import ToolAgent, history_messages, system_prompt

        first = len(box.book.runs)
        tools = [t for t in build_tools(ctx, box.book, box) if t.name == "search_knowledge"]
        agent = ToolAgent(self.settings, self._model(), tools, system_prompt(self.settings, user, project_id))
        raw = agent.run([*history_messages(turns), HumanMessage(question)])
        searches = box.book.runs[first:]
        if not searches:  # the model did not search again: whatever it wrote is unverified
            return self._extractive([(question, Route("knowledge", query=question), box.book.runs[first - 1])], box.book, ctx, box.scorer, cited, "llm")
        return self._checked(raw, False, question, [(question, Route("knowledge", query=question), searches[-1])], box, cited, ctx)

    def _checked(
        self, raw: str, cut_off: bool, question: str, gathered: list[Gathered], box: Toolbox, cited: CitationList, ctx: ToolContext,
    ) -> Composed:
        """The model's reply if it is grounded; otherwise the extractive answer (labelled) or a decline."""
        book = box.book
        reply = _check_reply(raw, cut_off, question, "\n".join(h.text for h in book.hits.values()), box, ctx)
        if reply.why == "tool_call":  # a tool call written as text: run it, never show it
            calls = [(question, route) for route in (_route_of(name, args) for name, args in text_tool_calls(raw)) if route]
            ran = [(part, route, box.gather(route)) for part, route in calls]
            return self._extractive(ran or gathered, book, ctx, box.scorer, cited, "llm")
        if reply.why:
            return self._fallback(gathered, box, cited, ctx, question, reply.why)
        cited.items.extend(reply.citations)
        return Composed(reply.text, cited, grounded=True)

    def _fallback(self, gathered: list[Gathered], box: Toolbox, cited: CitationList, ctx: ToolContext, question: str, why: str) -> Composed:
        """The extractive answer from the same evidence, saying why the model's reply was not used."""
        composed = self._extractive(gathered, box.book, ctx, box.scorer, cited, "llm")
        if composed.grounded:
            composed.text = f"{_note(is_chinese(question), why, self.settings.llm_max_tokens)}\n{composed.text}"
        return composed

    def _compose_several_llm(
        self, question: str, gathered: Gathered, box: Toolbox, cited: CitationList, ctx: ToolContext, user: User, turns: list[Turn]
    ) -> Composed:
        """Code makes each project's result; the model may write a comparison (one call), kept only
        when its markers verify and every project fact in it agrees with the results."""
        from assistant.agent.llm import compose_messages, history_messages, write

        part, route, run = gathered
        found, book = run.result, box.book
        if not found.covered or not book.hits:
            return self._extractive([gathered], book, ctx, box.scorer, cited, "llm")
        evidence = f"{several.evidence(book, found, box.scorer, part)}\n\n{several.facts(found, is_chinese(question))}"
        raw = write(self.settings, self._model(), compose_messages(self.settings, user, None, question, evidence, history_messages(turns)))
        stages = ctx.workflow.order
        reply = _check_reply(raw.text, raw.cut_off, question, evidence, box, ctx, lambda text: several.conflicts(text, found, stages))
        if reply.why:  # here every figure is a project fact; a tool call written as text would answer one project only
            return self._fallback([gathered], box, cited, ctx, question, {"tool_call": "unverified", "facts": "projects"}.get(reply.why, reply.why))
        cited.items.extend(reply.citations)  # numbered 1..k; the code-made part continues from there
        composer = Composer(part, box.scorer, relevance_floor(self.settings), cited, label="llm")
        if route.aspect == "readiness":  # the checklists themselves are never relayed through the model
            return Composed(f"{reply.text}\n\n{several.compose(composer, found, book.hits, part).text}", cited, grounded=True)
        return Composed("\n".join([*several.notes(composer, found), reply.text]), cited, grounded=True)

    # ----- pass-throughs for surfaces -----
    def search(self, user: User, query: str, k: int = 5, source: str | None = None, mode: str = "hybrid") -> list[Hit]:
        if not query.strip():
            raise InvalidQuestionError("检索内容不能为空")
        return search.search_knowledge(self.context(user), query, k=k, source=source, mode=mode)

    def clause(self, user: User, chunk_id: str) -> Hit:
        """The full text of a cited chunk, if the user may see it (records only for their groups)."""
        return search.get_clause(self.context(user), chunk_id)

    def list_projects(self, user: User, stage: str | None = None) -> list[records.ProjectSummary]:
        return records.list_projects(self.context(user), stage)

    def get_project(self, user: User, project_id: str) -> records.ProjectRecord:
        return records.get_project(self.context(user), project_id)

    def check_readiness(self, user: User, project_id: str, target_stage: str | None = None) -> readiness.ReadinessReport:
        return readiness.check_readiness(self.context(user), project_id, target_stage)

    def draft_proposal(
        self, user: User, project_id: str, kind: str = drafting.DEFAULT_KIND, fmt: str = "docx", template: Path | None = None
    ) -> drafting.Draft:
        """The draft from the record; in LLM mode its prose is polished under the no-invention check."""
        from assistant.agent.llm import paragraph_polisher

        polish = paragraph_polisher(self.settings, self._model()) if self.mode == "llm" else None
        return drafting.draft_proposal(self.context(user), project_id, kind, fmt, polish=polish, template=template)

    def explain_stage(self, user: User, stage: str) -> workflow.StageInfo:
        return workflow.explain_stage(self.context(user), stage)

    def update_index(
        self, user: User, paths: Iterable[Path] = (), rebuild: bool = False, progress: Progress | None = None, repair: bool = False
    ) -> IndexReport:
        """Administrators only (PermissionError otherwise). Works on a damaged index too (``repair``)."""
        return search.update_index(self._ctx.for_user(user), paths, rebuild=rebuild, progress=progress, repair=repair)

    def record_feedback(
        self,
        user: User,
        conversation_id: str | None,
        rating: str,
        comment: str = "",
        question: str = "",
        answer: str = "",
        citations: list[Citation] | None = None,
    ) -> int:
        """Store a thumbs up/down on an answer; returns the feedback id."""
        if rating not in ("up", "down"):
            raise ValueError("评价只能是 up 或 down")
        if conversation_id and not self.store.owns(conversation_id, user.name):
            raise UnknownConversationError(conversation_id)
        return self.store.add_feedback(conversation_id, user.name, rating, comment or "", question or "", answer or "", citations or [])


_TOOL_OF = {
    "knowledge": "search_knowledge", "project": "get_project", "projects": "list_projects",
    "readiness": "check_readiness", "draft": "draft_proposal", "stage": "explain_stage",
}


def _step_args(route: Route) -> dict:
    args = {
        "knowledge": {"query": route.query}, "project": {"project_id": route.project_id}, "projects": {"stage": route.stage},
        "readiness": {"project_id": route.project_id, "target_stage": route.target_stage},
        "draft": {"project_id": route.project_id, "kind": route.draft_kind}, "stage": {"stage": route.stage},
    }[route.kind]
    return {k: v for k, v in args.items() if v is not None}


def _route_of(name: str, args: dict) -> Route | None:
    """The typed route for a tool call a model wrote as text (unknown or malformed: None)."""
    pid = str(args.get("project_id") or "").upper() or None
    if name == "search_knowledge" and args.get("query"):
        return Route("knowledge", query=str(args["query"]))
    if name == "get_project" and pid:
        return Route("project", project_id=pid)
    if name == "check_readiness" and pid:
        return Route("readiness", project_id=pid, target_stage=args.get("target_stage") or None)
    if name == "draft_proposal" and pid:
        return Route("draft", project_id=pid, draft_kind=str(args.get("kind") or drafting.DEFAULT_KIND))
    if name == "explain_stage" and args.get("stage"):
        return Route("stage", stage=str(args["stage"]))
    if name == "list_projects":
        return Route("projects", stage=args.get("stage") or None)
    return None


@dataclass
class CheckedReply:
    """A model's reply after the grounding checks: its text and citations, or why it was rejected."""

    text: str = ""
    citations: list[Citation] = field(default_factory=list)
    why: str | None = None  # tool_call | cut_off | empty | facts | projects | unverified


def _check_reply(
    raw: str, cut_off: bool, question: str, evidence: str, box: Toolbox, ctx: ToolContext,
    disagrees: Callable[[str], bool] | None = None,
) -> CheckedReply:
    """Every check a model's reply must pass before a user reads it, in one place.

    ``evidence`` is the text the model was given (figures it states must come from there);
    ``disagrees`` an extra check of the reply's project facts against the code's own results.
    The kept markers are renumbered 1..k in order, so code-made text can continue the numbering.
    """
    if text_tool_calls(raw):
        return CheckedReply(why="tool_call")
    text = without_wrappers(raw)
    if not text or cut_off:
        return CheckedReply(why="cut_off" if text else "empty")
    if unsupported_facts(text, evidence, question, ctx.workflow.order):
        return CheckedReply(why="facts")
    if disagrees and disagrees(text):
        return CheckedReply(why="projects")
    text, citations = renumbered(*cite_markers(text, box.book.hits, box.scorer))
    return CheckedReply(text, citations) if citations else CheckedReply(why="unverified")


def _note(zh: bool, why: str, limit: int) -> str:
    """Why the user reads the extractive answer although a model is configured."""
    notes = {
        "cut_off": (f"（大模型的回答在 {limit} 个 token 处被截断或中断，以下改为直接摘录知识库原文。）",
                    f"(The model's reply was cut off at {limit} tokens or interrupted; below are quotes from the knowledge base instead.)"),
        "empty": ("（大模型没有给出回答，以下改为直接摘录知识库原文。）", "(The model gave no answer; below are quotes from the knowledge base instead.)"),
        "facts": ("（大模型的回答含有资料中没有的数字或项目信息，已弃用，以下改为直接摘录知识库原文。）",
                  "(The model's reply stated figures the sources do not contain, so it was discarded; below are quotes from the knowledge base.)"),
        "projects": ("（大模型的比较与程序核对的项目信息（编号、阶段、结论或缺项）不一致，已弃用，以下是确定性结果。）",
                     "(The model's comparison disagreed with the checked project facts (ids, stages, verdicts or missing items), so it was discarded; below are the deterministic results.)"),
        "unverified": ("（大模型的回答无法用知识库出处核实，已弃用，以下改为直接摘录知识库原文。）",
                       "(The model's reply could not be verified against the knowledge base, so it was discarded; below are quotes from it instead.)"),
    }
    return notes[why][0 if zh else 1]


def _join_parts(parts: list[str], sections: list[Composed]) -> str:
    """One banner, then each sub-question with its quoted sentences (or the one line saying none)."""
    lines = sections[0].text.splitlines()[:1]
    for part, section in zip(parts, sections):
        body = section.text.splitlines()
        lines += ["", f"▶ {part}", *(body[1:] if section.grounded else body[:1])]
    return "\n".join(lines)


def _several_topic(route: Route, run: ToolRun | None) -> str:
    """Remembers the projects an answer showed, in order, so "那第二个呢？" resolves next turn."""
    found = run.result if run else None
    if isinstance(found, several.ProjectSet):
        return several_topic(route.aspect, route.target_stage, found.ids)
    return several_topic("record", None, [p.id for p in (found or [])])


def _quoted_project(citations: list[Citation]) -> str | None:
    """The one project record a knowledge answer quoted ("刘振宇负责的是哪个项目？"), so "那它…" follows it."""
    projects = {c.doc_id.upper() for c in citations if c.source == "record" and PROJECT_ID.fullmatch(c.doc_id)}
    return projects.pop() if len(projects) == 1 else None


def _used_project(book: SourceBook) -> str | None:
    """The last project a tool was asked about in this turn."""
    for run in reversed(book.runs):
        if run.args.get("project_id") and not run.error:
            return str(run.args["project_id"]).upper()
    return None

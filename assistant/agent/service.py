"""The one service layer every surface (CLI, HTTP, Slack, DingTalk) calls.

``ask``/``ask_stream`` answer a question in LLM mode (tool-calling agent) when a model is
configured, otherwise in offline mode (rule router + extractive answer); both use the same tools,
bound to the asking user. The other methods are thin pass-throughs to the deterministic tools, so
surfaces never reach the index or the records directly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from assistant.agent import evidence
from assistant.agent.citations import CitationList, cite_markers, verify
from assistant.agent.conversations import ConversationStore, new_conversation_id
from assistant.agent.evidence import Scorer, content_tokens, is_chinese
from assistant.agent.models import AgentEvent, Answer, Citation, ToolCall
from assistant.agent.offline import PROJECT_ID, Composed, Composer, plan, split_questions
from assistant.agent.tools import SearchResult, SourceBook, build_tools
from assistant.errors import InvalidQuestionError, LinkageError, LLMError, UnknownConversationError
from assistant.index import Hit, IndexReport, KnowledgeIndex
from assistant.index.embeddings import relevance_floor
from assistant.index.store import Progress
from assistant.settings import Settings
from assistant.storage.database import Database, database_url
from assistant.tools import drafting, readiness, records, search, workflow
from assistant.tools.context import ToolContext, User

if TYPE_CHECKING:  # the LLM stack (LangChain agents, openai) is imported only when a model is used
    from langchain_core.language_models import BaseChatModel

_NOT_ASKED = frozenset({"项目", "介绍", "情况", "信息", "概况", "详细", "project", "details"})


class AssistantService:
    """Answers questions and runs tools on behalf of a user; remembers conversations and feedback."""

    def __init__(self, settings: Settings, index: KnowledgeIndex | None = None, chat_model: BaseChatModel | None = None):
        self.settings = settings
        self._ctx = ToolContext(settings, _index=index)
        self._chat_model = chat_model
        self._store: ConversationStore | None = None
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
        """The shared index, records and workflow, acting for ``user``."""
        return self._ctx.for_user(user)

    def _model(self) -> BaseChatModel:
        from assistant.agent.llm import chat_model

        if self._chat_model is None:
            self._chat_model = chat_model(self.settings)
        return self._chat_model

    def index_ready(self) -> bool:
        """Whether the knowledge index holds anything (for readiness probes)."""
        return self._ctx.index.count() > 0

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
        tools = {t.name: t for t in build_tools(ctx, book)}
        scorer = Scorer(ctx.index)
        if project_id:
            project_id = project_id.strip().upper()

        if self.mode == "offline":
            # "X是什么？Y有哪些？" is answered part by part when every part is a knowledge question.
            parts = split_questions(question)
            routes = [plan(part, ctx.workflow, project_id, previous) for part in parts]
            for route in routes[1:]:  # later parts often leave the subject to the first ("由哪些单位起草？")
                for name, args in route.calls:
                    if name == "search_knowledge":
                        args["query"] = f"{args['query']} {parts[0]}"
            if len(parts) == 1 or not all(r.calls and r.calls[0][0] == "search_knowledge" for r in routes):
                parts, routes = [question], [plan(question, ctx.workflow, project_id, previous)]
            shared = CitationList()
            sections: list[Composed] = []
            for part, route in zip(parts, routes):
                for name, args in route.calls:
                    yield AgentEvent(type="step", tool=name, args=args)
                    tools[name].invoke({k: v for k, v in args.items() if v is not None})
                sections.append(self._compose_offline(part, route, book, ctx, scorer, shared))
            text = sections[0].text if len(sections) == 1 else _join_parts(parts, sections)
            citations, grounded = shared.items, any(c.grounded for c in sections)
            remembered, topic = routes[-1].project_id, routes[-1].topic
        else:
            from langchain_core.messages import HumanMessage

            from assistant.agent.llm import ToolAgent, history_messages, system_prompt

            remembered = project_id or _named_project(question) or (previous.project_id if previous else None)
            agent = ToolAgent(self.settings, self._model(), list(tools.values()), system_prompt(self.settings, user, remembered))
            messages = [*history_messages(turns), HumanMessage(question)]
            if stream:
                raw = ""
                for kind, data in agent.stream(messages):
                    if kind == "tool_call":
                        yield AgentEvent(type="step", tool=data["name"], args=data["args"])
                    elif kind == "token":
                        yield AgentEvent(type="token", text=data)
                    else:
                        raw = data
            else:
                raw = agent.run(messages)
            text, citations, grounded = self._finish_llm(raw, book, scorer, question)
            remembered = _used_project(book) or remembered
            topic = _used_topic(book) or (previous.topic if previous else None)

        text, citations = verify(text, citations, ctx.index)
        if not citations and grounded and book.hits:
            grounded = False
        answer = Answer(
            answer=text,
            mode=self.mode,
            citations=citations,
            tool_calls=[ToolCall(name=run.name, args=run.args) for run in book.runs],
            conversation_id=conversation_id,
            grounded=grounded,
        )
        self.store.add_turn(conversation_id, user.name, question, answer, remembered, topic)
        if self.mode == "offline" and stream:
            for line in text.splitlines(keepends=True):
                yield AgentEvent(type="token", text=line)
        yield AgentEvent(type="final", answer=answer)

    def _compose_offline(
        self, question: str, route, book: SourceBook, ctx: ToolContext, scorer: Scorer, cited: CitationList
    ) -> Composed:
        composer = Composer(question, scorer, relevance_floor(self.settings), cited)
        if route.out_of_scope:
            return composer.decline(out_of_scope=True)
        if route.needs_project:
            return composer.needs_project([p.id for p in records.list_projects(ctx)])
        run = book.runs[-1]
        asked = [t for t in content_tokens(question, scorer.user_dict) if not PROJECT_ID.fullmatch(t) and t not in _NOT_ASKED]
        return composer.compose(run, book.hits, asked)

    def _finish_llm(self, raw: str, book: SourceBook, scorer: Scorer, question: str) -> tuple[str, list[Citation], bool]:
        """Markers mapped to verified citations; an answer left without any says so."""
        if not raw:
            raise LLMError("大模型没有给出回答，请重试或换个问法。")
        text, citations = cite_markers(raw, book.hits, scorer)
        if citations:
            return text, citations, True
        if book.hits:
            note = (
                "（注意：这个回答中没有可以核实的知识库出处，请谨慎使用。）"
                if is_chinese(question)
                else "(Note: none of this answer could be verified against the knowledge base; use it with care.)"
            )
            text = f"{text}\n\n{note}"
        return text, [], False

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

    def update_index(self, user: User, paths: Iterable[Path] = (), rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
        """Administrators only (PermissionError otherwise)."""
        report = search.update_index(self.context(user), paths, rebuild=rebuild, progress=progress)
        self._ctx.reload_knowledge_files()  # a long-running service must not keep serving old records
        evidence.forget_frequencies()
        return report

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


def _join_parts(parts: list[str], sections: list[Composed]) -> str:
    """One banner, then each sub-question with its quoted sentences (or the one line saying none)."""
    lines = sections[0].text.splitlines()[:1]
    for part, section in zip(parts, sections):
        body = section.text.splitlines()
        lines += ["", f"▶ {part}", *(body[1:] if section.grounded else body[:1])]
    return "\n".join(lines)


def _named_project(question: str) -> str | None:
    match = PROJECT_ID.search(question)
    return match.group(0).upper() if match else None


def _used_project(book: SourceBook) -> str | None:
    """The last project a tool was asked about in this turn."""
    for run in reversed(book.runs):
        if run.args.get("project_id") and not run.error:
            return str(run.args["project_id"]).upper()
    return None


def _used_topic(book: SourceBook) -> str | None:
    for run in reversed(book.runs):
        if isinstance(run.result, SearchResult):
            return run.result.query
    return None

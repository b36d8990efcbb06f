"""Understanding a question: a typed route (what kind of question, about what) before any tool runs.

Both modes route the same way, by rules: out-of-scope questions are declined here, before a model
is ever called; follow-ups ("那它还缺什么？") resolve against the previous turn's project and topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from assistant.agent.conversations import Turn
from assistant.index.lexical import expand_english
from assistant.tools.drafting import DEFAULT_KIND
from assistant.tools.workflow import Workflow

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
_CJK = re.compile(r"[\u4e00-\u9fff]")
SEARCH_K = 8  # clauses a knowledge answer is composed from

RouteKind = Literal["knowledge", "project", "projects", "readiness", "draft", "stage", "out_of_scope", "needs_project"]
TOPICS = ("draft", "readiness", "projects", "project")  # remembered topics that are not search topics


@dataclass
class Route:
    """What the question is and what evidence answers it; ``topic`` is remembered for follow-ups."""

    kind: RouteKind
    query: str | None = None  # knowledge: what to search for
    project_id: str | None = None
    target_stage: str | None = None  # readiness
    stage: str | None = None  # stage explanation, or the stage filter of a project list
    draft_kind: str = DEFAULT_KIND
    topic: str | None = None

    @property
    def declined(self) -> bool:
        return self.kind in ("out_of_scope", "needs_project")


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


_EN_STAGE_QUESTION = re.compile(
    r"\b(?:deliverables?|activities|what happens|what (?:is|are) (?:done|needed|required)|requirements?|entry|exit|what to do)\b", re.IGNORECASE
)


def understand(question: str, flow: Workflow, project_id: str | None, previous: Turn | None, glossary: Path | None = None) -> Route:
    """Route a question by rules and keywords, resolving follow-ups against the last turn.

    An English question is routed on its Chinese domain terms too (``glossary``), so "the
    deliverables of the implementation stage" is a stage question like "实施阶段的交付物".
    """
    text = question.strip()
    if _OUT_OF_SCOPE.search(text):
        return Route("out_of_scope")
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
                return Route("draft", project_id=pid, draft_kind=kind, topic="draft")
            return Route("readiness", project_id=pid, target_stage=_target_stage(text, flow), topic="readiness")
        if refers_back or (drafting and _REQUEST.search(text)):  # "帮我起草立项建议书" but for which project?
            return Route("needs_project")
    if _LIST.search(text) and not named:
        stages = _stages_in(text, flow)
        return Route("projects", stage=stages[0] if len(stages) == 1 else None, topic="projects")
    if named or (refers_back and remembered):
        return Route("project", project_id=named[0] if named else remembered, topic="project")
    stages = _stages_in(text, flow)
    if len(stages) == 1 and not _STANDARD_CODE.search(text) and _asks_about_stage(text, stages[0]):
        return Route("stage", stage=stages[0], project_id=remembered, topic=stages[0])
    if glossary is not None and not _CJK.search(text) and _EN_STAGE_QUESTION.search(text) and not _STANDARD_CODE.search(text):
        stages = _stages_in(expand_english(text, glossary)[len(text):], flow)
        if len(stages) == 1:
            return Route("stage", stage=stages[0], project_id=remembered, topic=stages[0])
    query = text
    if previous and previous.topic and previous.topic not in TOPICS and _FOLLOW_UP.search(text):
        query = f"{previous.topic} {text}"
    return Route("knowledge", query=query, project_id=remembered, topic=query if len(query) <= 60 else query[-60:])


def _asks_about_stage(text: str, stage: str) -> bool:
    """"立项阶段要做什么" is about the stage itself; "评价改进阶段的评价维度" and "立项建议书怎么写" are not."""
    generic = (
        r"(?:要|需要|应该|应当|主要|得)?(?:交|提交|形成)?(?:做什么|做哪些|干什么|有哪些活动|活动|交付物?|的?门槛|条件|需要哪些|要哪些|要求|是什么|包括什么"
        r"|准备(?:哪些|什么)|(?:哪些|什么)材料|产出|输出)"
    )
    return bool(re.search(rf"(?:项目)?{stage}(?:阶段|环节|步骤)?(?:的|结束前|之前|期间|里|中)?{generic}|什么是(?:项目)?{stage}", text))

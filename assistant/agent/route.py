"""Understanding a question: a typed route (what kind of question, about what) before any tool runs.

Both modes route the same way, by rules: out-of-scope questions are declined here, before a model
is ever called; follow-ups ("那它还缺什么？") resolve against the previous turn's project and topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from assistant.agent.conversations import Turn
from assistant.agent.evidence import content_tokens
from assistant.index import KnowledgeIndex
from assistant.index.lexical import expand_english
from assistant.tools.context import ToolContext
from assistant.tools.records import ProjectRecord
from assistant.tools.drafting import DEFAULT_KIND
from assistant.tools.workflow import Workflow

# not \b: "P-2025-001能否进入…" has no word boundary between the id and the Chinese after it
PROJECT_ID = re.compile(r"(?<![A-Za-z0-9-])P-\d{4}-\d{3}(?![0-9])", re.IGNORECASE)
_OUT_OF_SCOPE = re.compile(
    r"天气|气温|下雨|股市|股票|彩票|星座|笑话|菜谱|做菜|减肥|电影|(?:写|作|来)(?:一)?[首篇段个]?.{0,8}(?:诗|歌词|小说|故事|作文)"
    # a request for code: the thing written right after the verb ("写个Python脚本"), not the
    # trade's 阶段代码 or 制定程序 further on ("阶段是写阶段名称还是写阶段代码")
    r"|(?:写|编)(?:一段|一个|个|段|点)[^，,。？?]{0,8}(?:代码|脚本|函数|程序)|(?:写|编)\s*(?:[A-Za-z+#]{1,12}\s*)?(?:代码|脚本|函数|程序)"
    r"|weather|joke|poem|recipe|movie|stock market",
    re.IGNORECASE,
)
_READINESS = re.compile(
    r"就绪|缺什么|缺少|还缺|缺哪些|缺了|差什么|还差|具备.{0,8}条件|卡在|卡住了?|卡哪"
    # may it move on: "能否进入", "可以往评估阶段走了吗", "能不能转到实施"
    r"|(?:能否|能不能|可以|可不可以|能|可否|是否可以)\s*(?:进入|转入|进到|转到|走到|推进到|迈入|往)"
    r"|准备好|门槛|材料(?:够|齐|全)了?(?:吗|没|不)|材料够(?:上|得上|不够)|ready|readiness|missing"
    r"|\bblock(?:s|ing|ed)?\b|\bholding (?:\w+ )?back\b|\bstopping\b|\bkeeps? (?:\w+ )?from\b"
    r"|\b(?:can'?t|cannot|can not|unable to)\s+(?:yet\s+)?(?:move|go|get|advance|proceed|progress)\b",
    re.IGNORECASE,
)
# (English "draft" as a verb, not the noun of "still marked as a draft")
_DRAFT = re.compile(r"起草|草拟|拟写|撰写|写一份|写个|生成.{0,8}(?:建议书|报告|材料)|(?<!\ba )(?<!\bthe )(?<!\bas )(?<!\bin )\bdraft\b|\bwrite\b", re.IGNORECASE)
_ABOUT_DRAFTING = re.compile(r"谁.{0,4}起草|起草.{0,10}(?:谁|哪位)|由谁|起草单位|起草人|哪些单位|哪家|起草了?(?:什么|哪些)|who drafted|drafted by|who (?:is )?(?:in charge of|responsible for) drafting", re.IGNORECASE)
_DRAFT_KIND = re.compile(r"建议书|申请书|立项材料|可行性(?:研究)?报告|提案|\bproposal\b|\bdraft\b", re.IGNORECASE)
_REQUEST = re.compile(r"帮我|(?<![申邀聘])请|给我|替我|\bplease\b|\bdraft (?:a|an|the)\b", re.IGNORECASE)  # (not the 请 of 申请)
_LIST = re.compile(
    r"项目(?:列表|清单)|(?:有哪些|哪些|所有|全部|列出|列一下|查看|看到)(?:联动)?项目|\blist (?:the |all |my )?projects|which projects",
    re.IGNORECASE,
)
_ANAPHORA = re.compile(
    r"它|他们|她们|该项目|这个项目|此项目|这一项目|那个项目|上述项目|(?:这个|这项|这份|该|此)(?:目标)?标准|\bit\b|\bits\b|\btheir\b|this project|that project", re.IGNORECASE
)
# what a 它 refers to when the message itself names it first ("材料还在草稿状态，能不能先算它过了门槛"): no project
_ANTECEDENT = re.compile(r"^(?!.*项目).*(?:材料|文件|报告|草稿|记录|表|建议书|申请书|声明|专利|标准)", re.DOTALL)
# "其中…" right after an answer about one project asks within that answer (its patents, its team)
_WITHIN = re.compile(r"^(?:那么?)?其中")
_FOLLOW_UP = re.compile(
    r"^(?:那|那么|还有|另外|此外|它|and\b|what about|how about)|呢[？?]?$|它|(?<!应)该(?!项目)|这个|那个|上述|刚才|\bit\b",
    re.IGNORECASE,
)
# (到 alone, but not the 到 of 拿到/收到/得到…: "已经拿到立项批复" moves to no stage)
_ENTER = re.compile(r"(?:进入|转入|迈入|进到|转到|走到|(?<![拿收得做达遇看听找受提])到|往|enter(?:ing)?\s+(?:the\s+)?)\s*[「“\"]?", re.IGNORECASE)
# what a stage gate asks for, in a question that names no project ("从构思往评估走，门槛是什么？")
_GATE = re.compile(r"门槛|条件|材料|记录|报告|东西|备齐|准备|要求|需要|得有|必须|交付|\brequire|\bneed|\bmust\b", re.IGNORECASE)
# "第四步", "第二个阶段": a workflow stage by its position
_STEP = re.compile(r"(?:第\s*([一二三四五六七八九十]|\d{1,2})|(最后)一?)\s*个?(?:步|阶段|环节|步骤)")
# "这一步", "该阶段": the stage the previous turn was about
_THIS_STAGE = re.compile(r"(?:这|该|此|那)(?:一|个)?(?:步|阶段|环节|步骤)")
_STANDARD_CODE = re.compile(r"(?:GB/T|GB/Z|T/[A-Z]+)\s*\d", re.IGNORECASE)
_CJK = re.compile(r"[\u4e00-\u9fff]")
# Clauses a knowledge answer is chosen from. The clause that answers a question in other words
# (a paraphrase, colloquial Chinese, English) is often ranked 9th–16th; relevance and sentence
# scoring still pick from them. 8 → 16 for Chinese questions raised fact recall on the dev
# split's held-out-style parts (0.76–0.85 → 0.85–0.88) and lost none of its refusals.
SEARCH_K = 16

RouteKind = Literal["knowledge", "project", "projects", "several", "readiness", "draft", "stage", "out_of_scope", "needs_project"]
TOPICS = ("draft", "readiness", "projects", "project")  # remembered topics that are not search topics
SEVERAL = "several"  # prefix of the remembered topic of an answer about several projects (see several_topic)

# "my projects", "which projects", "all projects": the set of projects the asker may see
_MINE = re.compile(
    r"我(?:们)?(?:部门|负责|参与)?的(?:各个|所有|全部|这些)?项目|(?:阶段|期)的(?:所有|全部|各个)?项目|项目(?:中|里|当中)?(?:哪个|哪些|哪几个)|所有(?:的)?项目|全部(?:的)?项目|各(?:个)?项目|每个项目|(?:哪些|哪个|哪几个)项目"
    r"|\b(?:my|our) projects\b|\ball (?:the |of the |of my |of our )?projects\b|\bwhich (?:of (?:my|our|the) )?projects?\b"
    r"|\b(?:any|each) (?:of (?:my|our|the) )?projects?\b",
    re.IGNORECASE,
)
_CLOSER = re.compile(r"(?:更|最)(?:接近|靠近)|离.{0,8}(?:更|最)近|进展(?:更|最)快|(?:更|最)快|\bclos(?:er|est)\b|furthest along|most advanced", re.IGNORECASE)
_COMPARE = re.compile(r"比较|对比|分别|各自|异同|区别|差异|\bcompare\b|\bcomparison\b|\beach\b|\brespectively\b", re.IGNORECASE)
_ORDINAL = re.compile(
    r"第\s*([一二三四五六七八九十]|\d{1,2})\s*(?:个|项)|(最后一个)|\b(first|second|third|fourth|fifth|sixth|seventh|last)(?: one| project)?\b",
    re.IGNORECASE,
)
_ORDINALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
             "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7}


@dataclass
class Route:
    """What the question is and what evidence answers it; ``topic`` is remembered for follow-ups."""

    kind: RouteKind
    query: str | None = None  # knowledge: what to search for; project: what is asked, when more than the question
    project_id: str | None = None
    target_stage: str | None = None  # readiness
    stage: str | None = None  # stage explanation, or the stage filter of a project list
    draft_kind: str = DEFAULT_KIND
    topic: str | None = None
    # several: the projects named, in order ([] with ``mine``: every project the asker may see),
    # and what is asked of each: their readiness, or what their records say
    project_ids: list[str] = field(default_factory=list)
    mine: bool = False
    aspect: Literal["readiness", "record"] = "record"

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
    """The stage a question moves to: the one right after 进入/进到/往… (成果运用 before 运用)."""
    for match in _ENTER.finditer(question):
        rest = question[match.end():]
        for stage in sorted(flow.order, key=len, reverse=True):
            if rest.startswith(stage) or rest.startswith(f"项目{stage}"):
                return stage
    return None


def split_questions(text: str) -> list[str]:
    """The separate questions in one message ("…是什么？…有哪些？"); short fragments stay attached.
    A closing statement that asks nothing is no question to answer ("…编号是多少？我要写进立项书里。",
    "Who won …? I'm settling a bet with a colleague."): it is left out."""
    parts: list[str] = []
    for piece in re.split(r"(?<=[？?])", text.strip()):
        piece = piece.strip()
        if not piece:
            continue
        if parts and piece[-1] not in "？?" and len(piece) >= 4 and not _ASKS.search(piece):
            break  # (only the last piece can lack the question mark)
        if parts and len(piece) < 4:
            parts[-1] += piece
        else:
            parts.append(piece)
    return parts or [text]


# a part that asks or requests something, though it ends without a question mark ("再列出各阶段的交付物。")
_ASKS = re.compile(
    r"什么|哪|谁|啥|咋|怎么|怎样|如何|多少|几|吗|呢|是否|能否|有没有|是不是|要不要|请|说说|讲讲|讲一下|说明一下|列出|列一下|列举|给出|写出|比较|对比|总结|概括|介绍|解释|告诉|帮我|想知道|想了解|想问"
    r"|^\s*(?:is|are|do|does|did|can|could|should|must|will|would)\b"
    r"|\b(?:what|which|how|who|whom|when|where|why|whether|list|explain|describe|tell|give|show|please)\b",
    re.IGNORECASE,
)


# a move from one stage to the next, in English ("before it can move on to the stage of …")
_EN_MOVE = re.compile(
    r"\b(?:(?:move|go|get|advance|proceed|progress|pass)(?:es|s|ed|ing)?(?: on| forward| ahead)?(?: from\b.{1,40}?)? (?:in)?to|enter(?:s|ing)?)\b", re.IGNORECASE
)
_EN_STAGE_QUESTION = re.compile(
    r"\b(?:deliverables?|activities|what happens|what (?:is|are) (?:done|needed|required)|requirements?|entry|exit|what to do)\b"
    rf"|\b(?:must|need|needs|have to|has to|required|before)\b.*{_EN_MOVE.pattern}", re.IGNORECASE
)


def understand(question: str, flow: Workflow, project_id: str | None, previous: Turn | None, glossary: Path | None = None) -> Route:
    """Route a question by rules and keywords, resolving follow-ups against the last turn.

    An English question is routed on its Chinese domain terms too (``glossary``), so "the
    deliverables of the implementation stage" is a stage question like "实施阶段的交付物".
    """
    text = question.strip()
    if _OUT_OF_SCOPE.search(text):
        return Route("out_of_scope")
    named = list(dict.fromkeys(m.upper() for m in PROJECT_ID.findall(text)))
    remembered = project_id or (previous.project_id if previous else None)
    within_last = bool(previous and previous.topic == "project" and _WITHIN.search(text) and not _STANDARD_CODE.search(text))
    anaphor = _ANAPHORA.search(text)
    refers_back = bool(anaphor and not _ANTECEDENT.search(text[: anaphor.start()])) or within_last
    # "P-2025-004 进到成果运用需要哪些材料": the gate of a named project's move is its readiness
    readiness = bool(_READINESS.search(text)) or bool(len(named) == 1 and _target_stage(text, flow) and _GATE.search(text))
    drafting = bool(_DRAFT.search(text)) and not _ABOUT_DRAFTING.search(text)
    closer = _CLOSER.search(text)

    earlier = several_of(previous.topic if previous else None)
    if earlier and previous and not named and (picked := _ordinal(text, earlier.ids)):
        if _bare(text):  # "那第二个呢？": the same question as before, about that one project
            if earlier.aspect == "readiness":
                route = Route("readiness", project_id=picked, target_stage=earlier.target)
            else:
                route = Route("project", project_id=picked)
        else:
            route = understand(text.replace(_ORDINAL.search(text).group(0), f" {picked} ", 1), flow, None, None, glossary)
        route.topic = previous.topic  # the list stays, so "那第一个呢？" still resolves next
        return route
    if len(named) >= 2 and drafting:  # one draft per request: which one first?
        return Route("needs_project", project_ids=named)
    if len(named) >= 2:
        aspect = "readiness" if readiness or closer else "record"
        target = _compared_stage(text, flow, closer) if aspect == "readiness" else None
        return Route("several", project_ids=named, aspect=aspect, target_stage=target, topic=SEVERAL)
    if not named and not drafting and _MINE.search(text) and (readiness or closer or _COMPARE.search(text)):
        aspect = "readiness" if readiness or closer else "record"
        target = _compared_stage(text, flow, closer) if aspect == "readiness" else None
        filters = [s for s in _stages_in(text, flow) if s != target]
        stage = filters[0] if len(filters) == 1 else None
        if aspect == "record" and re.search(r"阶段|stage", text, re.IGNORECASE):  # "分别处于什么阶段" is a list
            return Route("projects", stage=stage, topic="projects")
        return Route("several", mine=True, aspect=aspect, target_stage=target, stage=stage, topic=SEVERAL)

    if readiness or drafting:
        pid = named[0] if named else remembered
        if pid:
            if drafting:
                kind = "团体标准项目建议书" if re.search(r"团体标准|标准项目建议书|standard proposal", text, re.I) else DEFAULT_KIND
                return Route("draft", project_id=pid, draft_kind=kind, topic="draft")
            return Route("readiness", project_id=pid, target_stage=_target_stage(text, flow), topic="readiness")
        # "帮我起草立项建议书" or "给它写份建议书", but for which project? ("不参与起草的单位能不能披露它知道的专利"
        # uses 起草 and 它 and asks for no draft)
        if (refers_back and (readiness or _DRAFT_KIND.search(text))) or (drafting and _REQUEST.search(text)):
            return Route("needs_project")
    stage = _stage_asked(text, flow, previous) if not named and not _STANDARD_CODE.search(text) else None
    if stage and not (refers_back and remembered and not _THIS_STAGE.search(text)):
        return Route("stage", stage=stage, project_id=remembered, topic=stage)
    if _LIST.search(text) and not named:
        stages = _stages_in(text, flow)
        return Route("projects", stage=stages[0] if len(stages) == 1 else None, topic="projects")
    if named or (refers_back and remembered):
        # "其中哪些是第三方的？" asks within what the previous question asked ("有哪些专利"): both say what is asked
        asked = f"{previous.question} {text}" if within_last and previous and not named else None
        return Route("project", query=asked, project_id=named[0] if named else remembered, topic="project")
    stages = _stages_in(text, flow)
    if len(stages) == 1 and not _STANDARD_CODE.search(text) and _asks_about_stage(text, stages[0]):
        return Route("stage", stage=stages[0], project_id=remembered, topic=stages[0])
    if glossary is not None and not _CJK.search(text) and _EN_STAGE_QUESTION.search(text) and not _STANDARD_CODE.search(text):
        stages = _english_stages(text, flow, glossary)
        move = _EN_MOVE.search(text)
        if len(stages) > 1 and move:  # "in the implementation phase … move on to putting the results to use": the stage entered
            stages = _english_stages(text[move.end():], flow, glossary)
        if len(stages) == 1:
            return Route("stage", stage=stages[0], project_id=remembered, topic=stages[0])
    query = text
    if previous and previous.topic and previous.topic not in TOPICS and not several_of(previous.topic) and _FOLLOW_UP.search(text):
        query = f"{previous.topic} {text}"
    return Route("knowledge", query=query, project_id=remembered, topic=query if len(query) <= 60 else query[-60:])


def _english_stages(text: str, flow: Workflow, glossary: Path) -> list[str]:
    """Workflow stages an English text names; "evaluation and improvement" expands word by word, in
    any order ("改进 评价"), so a stage may be two of its words joined."""
    words = expand_english(text, glossary)[len(text):].split()
    return _stages_in(" ".join(words + [a + b for a in words for b in words if a != b]), flow)


@dataclass
class Earlier:
    """What an answer about several projects leaves for a follow-up: the projects in the order shown."""

    aspect: str
    target: str | None
    ids: list[str]


def several_topic(aspect: str, target: str | None, ids: list[str]) -> str:
    """The remembered topic of an answer about several projects (so "那第二个呢？" can resolve)."""
    return f"{SEVERAL}|{aspect}|{target or ''}|{','.join(ids)}"


def several_of(topic: str | None) -> Earlier | None:
    if not topic or not topic.startswith(SEVERAL + "|") or topic.count("|") < 3:
        return None
    _, aspect, target, ids = topic.split("|", 3)
    return Earlier(aspect, target or None, [i for i in ids.split(",") if i])


def _ordinal(text: str, ids: list[str]) -> str | None:
    """The project "第二个" / "the second one" / "最后一个" names among those shown last."""
    match = _ORDINAL.search(text)
    if not match or not ids:
        return None
    word = (match.group(1) or match.group(2) or match.group(3)).lower()
    position = len(ids) if word in ("最后一个", "last") else int(word) if word.isdigit() else _ORDINALS.get(word, 0)
    return ids[position - 1] if 1 <= position <= len(ids) else None


def _bare(text: str) -> bool:
    """Nothing but the ordinal and follow-up filler ("那第二个呢？", "what about the second one?")."""
    rest = _ORDINAL.sub("", text)
    rest = re.sub(r"那么|那|呢|项目|\bwhat about\b|\bhow about\b|\band\b|\bthe\b|\bone\b|\bproject\b|[？?！!。，,.\s]", "", rest, flags=re.IGNORECASE)
    return not rest


def _compared_stage(text: str, flow: Workflow, closer: re.Match | None) -> str | None:
    """The stage several projects are measured against: "进入立项", or "哪个更接近立项"; None: each one's next stage."""
    target = _target_stage(text, flow)
    if target is None and closer is not None:
        after = _stages_in(text[closer.end() :], flow)
        target = after[0] if after else None
    return target


def _stage_asked(text: str, flow: Workflow, previous: Turn | None) -> str | None:
    """The workflow stage a question asks about by position ("第四步是什么"), by reference to the
    previous turn's stage ("这一步要交哪些材料"), or as a move between stages that names no project
    ("从构思往评估走，门槛是什么", "转到成果运用阶段之前得拿出哪些材料": the gate of the stage entered)."""
    step = _STEP.search(text)
    about_flow = re.search(r"流程|工作|联动|项目|是什么|是哪|哪个|叫什么|什么阶段|做什么", text) or (previous and previous.topic in flow.order)
    if step and about_flow and not _stages_in(text, flow):
        word = step.group(1) or ""
        position = len(flow.order) if step.group(2) else int(word) if word.isdigit() else _ORDINALS.get(word, 0)
        if 1 <= position <= len(flow.order):
            return flow.order[position - 1]
    if _THIS_STAGE.search(text) and previous and previous.topic in flow.order and not _stages_in(text, flow):
        return previous.topic
    target = _target_stage(text, flow)
    if target and _GATE.search(text):
        return target
    return None


def _asks_about_stage(text: str, stage: str) -> bool:
    """"立项阶段要做什么" is about the stage itself; "评价改进阶段的评价维度" and "立项建议书怎么写" are not."""
    generic = (
        r"(?:要|需要|应该|应当|主要|得)?把?(?:交|提交|形成)?(?:做什么|做哪些|做啥|干什么|干啥|干哪些活|有哪些活动|活动|交付物?|的?门槛|条件|需要哪些|要哪些|要求|是什么|包括什么"
        r"|准备(?:哪些|什么)|(?:哪些|什么)材料|产出|输出)"
    )
    # "还在构思阶段，具体要干哪些活": a comma and an adverb may stand between the stage and the ask
    between = r"(?:的|结束前|之前|期间|里|中)?[，,\s]?(?:具体|一般|通常|主要|都)?"
    return bool(re.search(rf"(?:项目)?{stage}(?:阶段|环节|步骤)?{between}{generic}|什么是(?:项目)?{stage}", text))


_SAYS_PROJECT = re.compile(r"项目|\bproject\b", re.IGNORECASE)
# "那个正极材料项目", "浸没式液冷那个项目": a demonstrative points at one project the asker has in mind
_POINTS_AT_PROJECT = re.compile(r"(?:那个|这个|那一?项|这一?项)[^，,。？?的]{2,12}项目|[^，,。？?的]{2,12}(?:那个|这个)项目")
_MIN_NAME_CHARACTERS = 4  # characters of a project's own name words a question must use to name it
# the same for the corpus words an English question's words stand for: fewer, as each passed the
# glossary or stood out among the vocabulary's word vectors (chosen on the dev split)
_MIN_ENGLISH_NAME_CHARACTERS = 3


def project_named(question: str, ctx: ToolContext) -> str | None:
    """The visible project a question names by its name ("5G基站智能节能那个项目"), not its id.

    The question must speak of a project ("…那个项目"); only a record's own words count: words of
    its name that no other visible record's name and no public document uses. The project must be
    the only one so named.
    """
    if not _SAYS_PROJECT.search(question):  # "5G基站的辐射…" is not about the 5G project
        return None
    user_dict = ctx.settings.terms_path
    visible = ctx.records.visible(ctx.user.groups)
    names = {r.id: set(content_tokens(r.name, user_dict)) for r in visible}
    public = _public_text(ctx.index, ctx.index.generation)
    english = not _CJK.search(question)
    said = _in_corpus_words(question, ctx) if english else question
    asked = set(content_tokens(said, user_dict))
    least = _MIN_ENGLISH_NAME_CHARACTERS if english else _MIN_NAME_CHARACTERS
    if _POINTS_AT_PROJECT.search(question):  # "那个正极材料项目": one own word of a name is enough
        least = 2
    # an English question's glossary terms count whole too: "immersion cooling" is 浸没式液冷, which
    # only one record's name holds, though its parts 浸没 and 液冷 are short or shared
    phrases = {p for p in said.split() if english and len(p) >= least and p not in public}
    found = []
    for pid, words in names.items():
        others = set().union(*(w for other, w in names.items() if other != pid))
        own = [
            w for w in words & asked
            if len(w) >= 2 and w not in others and w not in public
            and not any(part != w and len(part) >= 2 and part in w and part in public for part in asked)  # "专利培育"
        ]
        record = next(r for r in visible if r.id == pid)
        # "东川理工的正极材料项目": the organisation or department it belongs to names it too
        own += [
            span for span in holder_said(question, record)
            if span.lower() not in public and not any(span in f"{r.organization} {r.department}" for r in visible if r.id != pid)
        ]
        whole = [p for p in phrases if p in record.name and not any(p in r.name for r in visible if r.id != pid)]
        if len(set("".join(own))) >= least or whole:
            found.append(pid)
    if not found:  # "陈立航负责的那个项目": the one project whose owner or team member the question names
        found = [r.id for r in visible if any(len(p) >= 2 and p in question for p in (r.owner, *(m.name for m in r.team)))]
    return found[0] if len(found) == 1 else None


def holder_said(question: str, record: ProjectRecord) -> list[str]:
    """The leading parts of the record's organisation and department a question names them by
    ("东川理工" for 东川理工大学, "华岳通信" for 华岳通信技术股份有限公司), two characters at least;
    words of the project's own name do not count twice (the 材料 of 材料科学与工程学院 in "正极材料项目")."""
    spans = []
    for holder in (record.organization, record.department):
        span = next((holder[:n] for n in range(len(holder), 1, -1) if holder[:n] in question), "")
        if span and span not in record.name:
            spans.append(span)
    return spans


def _in_corpus_words(question: str, ctx: ToolContext) -> str:
    """An English question's words as the corpus says them: its glossary terms and the visible
    vocabulary words whose vectors stand out as closest to its words ("EV" → 电动汽车)."""
    glossary = ctx.settings.glossary_path
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z-]+", question)]
    near = ctx.index.near_words(words, ctx.user.groups, english=True)
    return " ".join([expand_english(question, glossary)[len(question):], *(w for found in near.values() for w in found)])


@lru_cache(maxsize=4)
def _public_text(index: KnowledgeIndex, generation: int) -> str:
    """Everything the index holds outside project records (per index generation), lower-cased."""
    return "\n".join(h.text for h in index.find(None, groups=[]) if h.source != "record").lower()

"""The extractive composer: answers made by code from the evidence the tools gathered.

Nothing is generated: a knowledge answer is the best sentences of the retrieved clauses, quoted
verbatim; readiness, stage, project and draft answers are the deterministic tool results. It is
the whole answer offline, the answer for code-made results in LLM mode, and the fallback whenever
a model's reply cannot be verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from assistant.agent.citations import CitationList, best_quote, quote_units
from assistant.agent.evidence import Scorer, affirmed_columns, content_tokens, heading_before, is_chinese, lone_function_character, sentence_similarities, table_header
from assistant.agent.route import holder_said, split_questions
from assistant.agent.tools import SearchResult, ToolRun
from assistant.index import Hit
from assistant.index.references import numeral
from assistant.tools.drafting import Draft
from assistant.tools.readiness import ReadinessReport
from assistant.tools.records import ProjectRecord, ProjectSummary
from assistant.tools.workflow import Citation as ClauseRef
from assistant.tools.workflow import StageInfo

_WHOLE_CLAUSE = 6  # a clause the question names is quoted whole when it has at most this many sentences
_MAX_SENTENCES = 4  # one clause may give them all: the best clause often holds the whole answer
# a sentence is quoted when it scores at least this share of the best one (0.8 → 0.75 in session 10:
# fact recall dev 0.923 → 0.930, fresh batches +0.00–0.03; 3.1 → 3.5 sentences per answer)
_CLOSE_TO_BEST = 0.75
_MAX_RECORD_LINES = 6  # record lines are short (a table row, a field): a project answer may hold more
# Weights of a sentence's features (see ``scored_sentences``), chosen on the dev split: the clause's
# words, the sentence's own words, the sentence's and the clause's closeness in meaning, the clause
# named, the kind of answer, stated/inferred, a date asked, words quoted, novelty, clause rank, position.
SENTENCE_WEIGHTS = (1.0, 0.5, 1.0, 0.6, 1.0, 1.0, 1.0, 1.0, 1.0, 0.6, -0.03, -0.01)

_NUMBER = r"(?:\d+|[一二两三四五六七八九十]+)"  # a count, in digits or in Chinese numerals
_AMOUNT = re.compile(r"\d\s*(?:[万亿千百]|万元|亿元)?\s*[元块]|万元|[￥¥$]\s*\d|\bRMB\b|\byuan\b", re.I)  # a sum of money
_ORGANISATION = r"[\u4e00-\u9fff]{2,}?(?:研究院|研究会|协会|学会|委员会|公司|大学|局|中心|联盟|部门)"
_ORGANISATION_TAIL = r"[\u4e00-\u9fff]{0,8}?(?:研究院|研究会|协会|学会|委员会|公司|大学|局|中心|联盟|部门)"
# A document speaking of itself ("本标准由…归口", "本条例所称…")
_SELF_REFERENCE = re.compile(r"本(?:标准|指南|文件|规范|部分|条例|办法|规定|细则|法)")
# An enumerated item continuing the sentence before it ("……补充两部分内容。一是……。二是……。")
_ENUMERATED = re.compile(r"^(?:[一二三四五六七八九十]是|其[一二三四五六七八九十]|第[一二三四五六七八九十]+[，、,步]|首先|其次|再次|[（(][1-9一二三四五六七八九][）)]|[1-9][.、．])")

# The words a question opens with to point at a project ("我们课题组那个正极材料项目")
_POINTER = re.compile(r"^[^，,。？?]{0,12}?(?:那个|这个|那一?项|这一?项)[^，,。？?的]{0,12}项目")

# A span of time stated as one: "30日内", "三个月", "每季度" (a date is none: "2014年5月1日")
_SPAN = re.compile(rf"(?<![\d月])(?:\d{{1,3}}|[一二两三四五六七八九十百半]+)\s*(?:个)?(?:天|日|工作日|周|星期|年|小时)|{_NUMBER}\s*个\s*月|季度|每[天日周月年]|半年|年度|月度|\b\d+\s*(?:days?|weeks?|months?|years?)\b", re.I)
# ...or by two dates, when the question asks how long from one event to another ("从立项到征求意见稿隔了几个月")
_BETWEEN_EVENTS = re.compile(r"从.{1,30}到|隔了|相隔|间隔|之间|\bbetween\b|\bfrom\b.{1,60}\bto\b", re.I)
_SPAN_OR_DATES = re.compile(rf"{_SPAN.pattern}|(?:19|20)\d{{2}}\s*年", re.I)

# Which body ("哪所学校做的", "在哪个组织立的", "委托哪家代理机构"); "哪些单位适用" asks for kinds of unit
_WHICH_BODY = re.compile(
    r"哪[个家所](?:单位|机构|代理机构|组织|学校|高校|大学|公司|企业|工厂|厂家|厂商|事务所|部门|协会|学会|标委会|委员会|技术委员会)"
    r"|(?:哪些|什么)(?:单位|机构|组织).{0,6}(?:起草|牵头|归口|负责|组织|参与|同意|批准|承担|提出)"
    r"|\bwhich (?:organi[sz]ations?|bod(?:y|ies)|compan(?:y|ies)|universit(?:y|ies)|institutes?|departments?|agenc(?:y|ies)|firms?|factor(?:y|ies))\b",
    re.I,
)

# What kind of answer a question wants, and what a sentence giving it looks like.
_ANSWER_TYPES: list[tuple[re.Pattern, re.Pattern, float]] = [
    # who: a person or an organisation ("谁起草的": the drafting units; "谁负责": the project lead)
    (re.compile(r"谁|哪位|人有哪些|\bwho\b", re.I), re.compile(rf"{_ORGANISATION}|[\u4e00-\u9fff]{{2,3}}、[\u4e00-\u9fff]{{2,3}}等|笔人|负责人|\|\s*姓名\s*\|"), 0.4),  # a row of a table of names
    # which body: an organisation, never a person's role ("哪所学校做的", "在哪个组织立的")
    # ("哪些单位适用" asks for kinds of unit, not for a body's name)
    (_WHICH_BODY, re.compile(_ORGANISATION), 0.4),
    (re.compile(r"什么时候|何时|哪年|哪一年|哪一?天|几月|几号|哪个月|日期|(?<![长久])时间|\bwhen\b|\bwhat date\b", re.I), re.compile(r"(?:19|20)\d{2}\s*年|之日起|起(?:实施|施行|生效)|(?:GB/T|GB/Z|GB|T/[A-Z]+)\s*[\d.]+\s*[-－—]\s*(?:19|20)\d{2}"), 0.4),  # a date, or one relative to an event
    # which standard(s): one named by its number ("参照哪个标准", "which reference standard"), not a
    # criterion ("按什么标准判断")
    (re.compile(r"(?:哪些|哪几[项个部份]?|哪[一两二三四五六七八九十]?[项个部份])(?:现行|相关|现有|已有)?(?:国家|行业|团体|参考|推荐性)?(?:标准|国标|行标|团标)|\bwhich (?:\w+ )?standards?\b", re.I), re.compile(r"(?:GB/T|GB/Z|GB|[A-Z]{2}/T|T/[A-Z]+|ISO|IEC|ETSI\s+[A-Z]{2}|3GPP\s+T[SR]|RFC|IEEE)\s*\d|\|\s*标准号\s*\|"), 0.3),
    # an official document's number ("〔2024〕10号")
    (re.compile(r"文号|编号|批号|\b(?:document|reference|file) (?:number|no)\b", re.I), re.compile(r"[〔\[［(（]\s*(?:19|20)\d{2}\s*[〕\]］)）]\s*\d+\s*号"), 0.4),
    # a standard project's plan number ("修订计划号是多少"): 20233806-T-469
    (re.compile(r"计划号|计划编号|项目编号|\bplan(?:ning)? (?:number|no)\b", re.I), re.compile(r"\d{8}\s*-\s*[TQZ]\s*-\s*\d{3}"), 0.4),
    # how much of something, or what threshold ("what level of control", "控制到什么程度"): a share or a bound
    (re.compile(r"多大比例|什么比例|多少比例|什么程度|多大程度|\bhow much\b(?! (?:money|does it cost))|\bwhat (?:level|share|proportion|threshold)\b", re.I),
     re.compile(r"\d\s*(?:\.\d+)?\s*[%％]|百分之|超过|不低于|不少于|不超过|以上|以下"), 0.3),
    # a document's title or name ("中文名称叫什么", "the Chinese title of"): a title in 《》
    (re.compile(r"标题|名称|全称|名字|叫什么|\btitle\b|\bfull name\b|\bcalled\b", re.I), re.compile(r"《[^》]{2,}》"), 0.4),
    # which part of a series ("哪一部分讲研发", "which part deals with"): "第5部分"
    (re.compile(r"哪一?部分|哪个部分|第几部分|\bwhich part\b", re.I), re.compile(r"第\s*[一二三四五六七八九十\d]+\s*部分"), 0.4),
    # two terms told apart by their definitions ("A和B有什么区别")
    (re.compile(r"什么是|是什么|指什么|含义|定义|意思|区别|差别|差在|差异|不同|\bwhat is\b|\bdefin|\bmean|\bdiffer", re.I), re.compile(r"^[^，。]{1,20}(?:是指|指的是|是)"), 0.3),
    # what to do: a sentence that says to act, and when ("应及时补充披露"), over ones that only name the case
    (re.compile(r"怎么办|怎么处理|如何处理|怎样处理|该怎么|应(?:当|该)?(?:如何|怎么|怎样)|\bwhat (?:should|to do)\b|\bhow should\b", re.I), re.compile(r"(?:应|应当|应该|须|需)(?:及时|尽快|尽早|立即|马上)"), 0.3),
    # how to do it: a sentence that gives the method or its steps ("具体怎么操作", "有没有个套路")
    (re.compile(r"怎么(?:操作|做|开展|进行|弄|搞|落实)|如何(?:操作|做|开展|进行|落实)|具体做法|套路|\bhow (?:do|does|to|can|should)\b", re.I), re.compile(r"做法|方法|步骤|流程|程序|首先|第一步|一是"), 0.3),
    # why: a sentence that gives a reason or a purpose ("由于……", "……，因此……", "以便……")
    (re.compile(r"为什么|为啥|为何|原因|理由|\bwhy\b", re.I), re.compile(r"因为|由于|因此|所以|原因|在于|优势|好处|以便|便于|为了|目的是|有利于|背景|初衷|出发点"), 0.3),
    # what follows if: a sentence that states a consequence (liability, a prohibition, invalidity)
    (re.compile(r"会怎[样么]|会如何|后果|会有什么(?:影响|问题)|\bwhat happens\b|\bconsequences?\b", re.I), re.compile(r"承担|责任|后果|不得|无效|撤销|追究|处罚|不能"), 0.3),
    (re.compile(r"吗[？?]?\s*$|是否|是不是|能不能|可不可以|有没有|要不要|需不需要|用不用|^\s*(?:does|do|is|are|can|must|should|will)\b", re.I), re.compile(r"不(?:涉及|需要|适用|属于|包括|得|必|要求)|无|没有|并非|不是|也?可以|可选|无需|允许"), 0.2),
    # how many, or which N ("一共几个阶段", "要多写哪两块"): a sentence that counts them ("九个阶段") or names them ("A、B")
    (re.compile(r"(?<!哪)几[个项种类块件步部样点]|多少[个项种类件步]|哪[两二三四五六七八九十]|\bhow many\b", re.I), re.compile(rf"{_NUMBER}\s*(?:个|项|种|类|块|件|步|部分|样|点|方面)|[^、，。；：]{{2,}}、[^、，。；：]{{2,}}"), 0.4),
    (re.compile(r"哪些|哪几|几个|几种|包括|有什么|些什么|列举|\bwhat are\b|\bwhich\b|\blist\b|\bcover|\binclud|\bconsist", re.I), re.compile(r"(?:[^、]+、){3,}|一是.+二是|：.+；"), 0.25),
]

# Answers of a kind a question names outright: a price or revenue, a clock time, a floor, a phone
# number, an age, an address, the holder of an office. Such a question is answered only when the
# quoted sentences state one; otherwise the knowledge base does not hold the answer, whatever
# names the question shares with it ("某研究院的食堂几点开饭" quotes the institute, never a time).
_REQUIRED_TYPES: list[tuple[re.Pattern, re.Pattern | None]] = [
    (re.compile(r"多少钱|价格|价钱|[售股票房单]价|参考价|报价|定价|标价|价位|花(?:了|掉)?多少|营收|营业[收额]|收入|利润|市值|\bhow much money\b|\bprice\b|\bcosts?\b|\brevenue\b|\bprofits?\b", re.I),
     _AMOUNT),
    # a fee, a subsidy or a budget asked as an amount ("官费要交多少", "收了多少许可费")
    (re.compile(r"(?:费|费用|补贴|奖励|资助|奖金|经费|预算)[^，,。？?]{0,6}多少|多少[^，,。？?]{0,3}(?:费|费用|补贴|奖励|资助|奖金|经费)|\bhow much\b.{0,40}\b(?:fees?|subsid(?:y|ies)|grants?|royalt(?:y|ies)|budget)\b|\b(?:fees?|royalt(?:y|ies))\b.{0,30}\bhow much\b", re.I),
     _AMOUNT),
    # a rate or share ("许可费率一般定多少", "what royalty rate"): a percentage
    (re.compile(r"费率|(?:比例|比率|占比)[^，,。？?]{0,4}(?:多少|几)|(?:多大|什么|多少)(?:的)?(?:比例|比率|占比)|百分之几|\b(?:royalty )?rate\b|\bpercentage\b", re.I),
     re.compile(r"\d\s*(?:\.\d+)?\s*[%％]|百分之|[一二三四五六七八九十\d]+\s*成|\bper ?cent\b", re.I)),
    # a span of time ("多少天内备案", "审查周期要多久", "how long is the term"): a number of time units,
    # a date, or how often ("每季度")
    (re.compile(r"多久|多长时间|多少(?:个)?(?:天|日|工作日|周|星期|个月|年|小时)|(?<![一二三四五六七八九十百千\d])几(?:个)?(?:天|工作日|周|星期|个月|年|小时)(?![级])|\bhow long\b|\bhow many (?:days|weeks|months|years)\b", re.I),
     # (a date is no span: "2014年5月1日" states none of "几个月", "多少年", "多少天")
     _SPAN),
    # a city or province ("两个数据中心分别在哪个城市")
    (re.compile(r"哪(?:个|座|些)?(?:城市|省份?)|\bwhich (?:city|cities|province)\b", re.I),
     # (not the city in an organisation's name: 深圳市标准技术研究院)
     re.compile(rf"(?:[\u4e00-\u9fff]{{2,6}}?(?:省|市|自治区)|北京|上海|天津|重庆)(?!{_ORGANISATION_TAIL})")),
    # which body: a named organisation, or no answer ("样机交给哪家工厂代工" of a record that names none)
    (_WHICH_BODY, re.compile(_ORGANISATION)),
    # how many people or bodies ("来了多少专家", "几家单位参加"): a count of them
    # ("十几个人的初创公司" states a size, it asks none)
    (re.compile(r"(?:多少|(?<![一二三四五六七八九十百千\d])几)(?:个|位|名|家)?(?:人|专家|代表|单位|企业|机构)|\bhow many (?:people|experts|members|organi[sz]ations|companies)\b", re.I),
     # (a count of them, not of something else: "这两个社会团体" counts no people)
     re.compile(rf"{_NUMBER}\s*(?:位|名|家|人)|{_NUMBER}\s*个\s*(?:人|单位|企业|机构|专家|代表)|\d+\s*(?:people|experts|members)", re.I)),
    # a standard's number ("那个团标的正式编号是多少"): a number in a standard's form
    (re.compile(r"(?:标准|团标|国标|行标)[^，,。？?]{0,4}(?:编号|标准号)|标准号是|\bstandard number\b", re.I),
     re.compile(r"(?:GB/T|GB/Z|GB|[A-Z]{2,}/T|T/[A-Z]+|ISO|IEC)\s*\d")),
    # a website or platform ("在哪个平台上公开", "网址是什么")
    (re.compile(r"(?:哪个|哪一?家|什么)(?:网站|平台|网|系统)|网址|\bwebsite\b|\bplatform\b|\burl\b", re.I),
     re.compile(r"https?://|www\.|\.(?:cn|com|org|gov)\b|网站|平台|信息系统", re.I)),
    (re.compile(r"几点|\bwhat time\b", re.I), re.compile(r"\d{1,2}\s*[:：]\s*\d{2}|\d{1,2}\s*[点時时](?!\d)|[上下]午|\b[ap]\.?m\b", re.I)),
    (re.compile(r"几楼|几层|哪层|\bwhich floor\b", re.I), re.compile(r"\d+\s*[楼层]|\bfloor\b", re.I)),
    (re.compile(r"电话|手机号|联系方式|\bphone\b", re.I), re.compile(r"\d{3,4}-?\d{7,8}|1\d{10}")),
    (re.compile(r"年纪|多少岁|几岁|\bhow old\b", re.I), re.compile(r"\d+\s*(?:岁|周岁)|\byears old\b", re.I)),
    # an address: a street and number, or a city's district (not a city in an organisation's name)
    (re.compile(r"地址|在哪个区|位于哪|\baddress\b", re.I), re.compile(r"(?:路|街|大道|巷)\s*\d+\s*号|[省市][\u4e00-\u9fff]{1,4}[区县]")),
    # who holds an organisation's office (its chair, secretary-general, director, legal representative):
    # answered only by a sentence that names that office
    (re.compile(r"(?P<office>会长|秘书长|理事长|院长|所长|校长|董事长|总经理|总裁|主席|法定代表人|法人代表)(?:是谁|叫什么|是哪位)", re.I), None),
]


def _required(question: str) -> list[re.Pattern]:
    """What a quoted sentence must state for the question to count as answered (see ``_REQUIRED_TYPES``)."""
    found = [(asks.search(question), states) for asks, states in _REQUIRED_TYPES]
    required = [states or re.compile(re.escape(match.group("office"))) for match, states in found if match]
    return [_SPAN_OR_DATES if states is _SPAN and _BETWEEN_EVENTS.search(question) else states for states in required]


# ----- composing answers -----


@dataclass
class Composed:
    text: str
    citations: CitationList
    grounded: bool


class Composer:
    """Turns the tool runs of one offline turn into an answer in the asker's language."""

    def __init__(
        self, question: str, scorer: Scorer, min_relevance: float, cited: CitationList | None = None, label: str = "offline"
    ):
        self.question = question
        self.label = label  # "offline", or "llm" when code composes in LLM mode (tool results, fallbacks)
        self.zh = is_chinese(question)
        self.scorer = scorer
        self.focus = scorer.focus(question)
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
        if self.label == "llm":
            return self.t(f"【确定性结果，未经大模型改写】{what}", f"[Composed by code, not by the language model] {what}")
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
        if _OUTLINE.search(self.question) and (outline := self.outline(result.hits)):
            return outline
        tokens = self.scorer.known(content_tokens(self.focus, self.scorer.user_dict)) or result.tokens
        picked = self._pick(result.hits, tokens)
        if not picked:
            return self.decline(out_of_scope=False)
        lines = [self.banner(self.t("以下句子摘自知识库原文（抽取式回答，未经大模型改写）：", "Extractive answer — sentences quoted from the knowledge base (Chinese originals), no language model involved:"))]
        # "这句是在哪一节讲的": where each quote stands is the answer, so it heads the quote
        located = bool(_LOCATE.search(self.question))
        for number, (hit, sentence) in enumerate(picked, 1):
            heading = (heading_before(hit.text, sentence) or hit.clause_title.split("；")[0]) if len(sentence) < 6 else ""
            shown = f"{heading.strip()}：{sentence}" if heading else _display(sentence)
            where = f"（{hit.citation}）" if located and hit.citation else ""
            # a line of a project record says nothing of which project it is: its id does
            whose = f"{hit.doc_id}：" if hit.source == "record" and not where and hit.doc_id not in sentence else ""
            lines.append(f"{number}. {where}{whose}{shown}{self.cite(hit, sentence)}")
        return Composed("\n".join(lines), self.cited, grounded=bool(self.cited.items))

    def outline(self, hits: list[Hit]) -> Composed | None:
        """A document's own headings, for a question about its structure ("编制说明第二部分讲了哪些小节",
        "最后一节的标题"): the document the question names among the relevant hits, a section of it when
        the question names one. Summaries are left out: their headings are ours, not the document's."""
        said = re.sub(r"\s+", "", self.focus).lower()
        named = {
            h.doc_id: h for h in hits
            if h.kind == "document" and any(n and re.sub(r"\s+", "", n).lower() in said for n in (h.cite_as, h.title, h.standard.split("-")[0]))
        }
        if len(named) != 1:
            return None
        document = next(iter(named.values()))
        chunks = [h for h in self.scorer.index.find(document.doc_id, groups=self.scorer.groups) if h.clause_path]
        # one entry per heading: a run of short clauses merged into one chunk ("三、–四、") gives each its own
        entries = [(path[:-1] + [heading], hit) for hit in chunks for path in [hit.clause_path.split(" > ")] for heading in _headings(hit, path[-1])]
        section = _named_section(self.question, [path[0] for path, _ in entries])
        if section:
            entries = [(path, hit) for path, hit in entries if path[0] == section]
            if len(entries) == 1 and len(entries[0][0]) == 1:
                return self._section_text(document, section, entries[0][1])
        elif len(entries) > _MAX_OUTLINE:
            # a long document (a law of many articles): its top-level headings (chapters), each cited once
            entries = list({path[0]: ([path[0]], replace(hit, clause_title=path[0])) for path, hit in reversed(entries)}.values())[::-1]
        if not entries:
            return None
        lines = [self.banner(self.t(f"{document.title}{'中「' + section.strip() + '」' if section else ''}的结构（各条标题，按原文顺序）：",
                                    f"The structure of {document.title}{' — ' + section.strip() if section else ''} (its headings, in order):"))]
        shown: set[str] = set()
        for path, hit in entries:
            for depth, heading in enumerate(path[:-1]):
                if heading not in shown and not (section and depth == 0):
                    shown.add(heading)
                    lines.append(f"{'  ' * depth}- {heading}")
            depth = len(path) - 1 - (1 if section else 0)
            shown.add(path[-1])
            # an untitled article ("第七条") is told by its opening words
            opening = "" if hit.clause_title else next(iter(quote_units(hit.text)), "")
            gist = f"：{opening[:40]}{'…' if len(opening) > 40 else ''}" if opening else ""
            lines.append(f"{'  ' * depth}- {path[-1]}{gist}{self.cite(hit, quote=opening or None, claim=path[-1])}")
        return Composed("\n".join(lines), self.cited, grounded=bool(self.cited.items))

    def _section_text(self, document: Hit, section: str, hit: Hit) -> Composed:
        """A section without sub-headings that the question names ("第九部分标题叫什么 里面建议定成啥"):
        its heading and its text (of a chunk holding several short sections, the part under it)."""
        titles = [t for t in hit.clause_title.split("；") if t]
        text = hit.text
        for after in titles[1:]:
            position = text.find(after)
            if position >= 0:
                text = text[position + len(after):] if section.endswith(after) else text[:position]
        units = [u for u in quote_units(text) if u in hit.text and not u.endswith(tuple(titles))]
        lines = [self.banner(self.t(f"{document.title}「{section.strip()}」：", f"{document.title}, {section.strip()}:"))]
        lines += [f"- {_display(unit)}{self.cite(hit, unit)}" for unit in units[:_WHOLE_CLAUSE]]
        return Composed("\n".join(lines), self.cited, grounded=bool(self.cited.items))

    def scored_sentences(self, hits: list[Hit], tokens: list[str]) -> list[tuple[float, Hit, str]]:
        """Every quotable sentence, best first, by what carries to new questions: how close the
        sentence itself is in meaning to the question (dense, cached sentence vectors), how much
        of the question's information it holds (near forms included; its clause's standard and
        title count as context), how close its clause is, the kind of answer asked for, novelty."""
        # "又冒出来", "该怎么办": a lone character that is no noun tells no sentence from another
        tokens = [t for t in tokens if not lone_function_character(t, str(self.scorer.user_dict))] or tokens
        # "除了前言、引言，还有哪些要素": what the asker already knows counts as an echo, not as a match
        known = _set_aside(self.question, self.scorer.user_dict)
        echoed, tokens = tokens, [t for t in tokens if t not in known] or tokens
        dates = {re.sub(r"\s+", "", m.group(0)) for m in _DATE.finditer(self.question)}
        quoted = [re.sub(r"\s+", "", q) for q in _QUOTED.findall(self.question)]
        verbatim = bool(_VERBATIM.search(self.question))
        wanted = [(shape, weight) for asks, shape, weight in _ANSWER_TYPES if asks.search(self.question)]
        wanted += [(states, 0.4) for states in _required(self.question)]
        # Clauses are ranked by statistics of what the asker may see (coverage with visible document
        # frequencies, dense closeness), not by the fused search rank: BM25 statistics span chunks
        # the asker may not see, and must not steer the answer.
        ranked = sorted(hits, key=lambda h: -(self.scorer.coverage(tokens, self.scorer.hit_text(h)) + self._closeness(h.dense_similarity or 0.0)))
        units = [(rank, position, hit, sentence) for rank, hit in enumerate(ranked) for position, sentence in enumerate(quote_units(hit.text))]
        # the clause's own title heads the text before any merged clause's heading ("A；B")
        headings = [heading_before(hit.text, sentence) or hit.clause_title.split("；")[0] for _, _, hit, sentence in units]
        # a bare statement ("无。") says nothing without its heading: the heading is its subject
        said = [f"{heading}：{u[3]}" if len(u[3]) < 6 else u[3] for heading, u in zip(headings, units)]
        similarity = sentence_similarities(self.scorer.index, self.question, said)
        scored: list[tuple[float, int, Hit, str]] = []
        # A clause found only by keywords has no similarity; it passed relevance, so it counts as
        # close as the least similar clause that dense search returned.
        floor = min((h.dense_similarity for h in hits if h.dense_similarity is not None), default=self.min_relevance)
        for (rank, position, hit, sentence), heading, text, close in zip(units, headings, said, similarity):
            dense = hit.dense_similarity if hit.dense_similarity is not None else floor
            closeness = self._closeness(dense)
            named = 0.3 if hit.clause_title and hit.clause_title in self.focus else 0.0
            # "本标准主要持笔人…" is about the document itself: its title is what "本标准" says
            itself = hit.title if _SELF_REFERENCE.search(sentence) else ""
            overlap = self.scorer.coverage(tokens, f"{hit.standard} {itself} {hit.clause_title} {heading} {_row_said(hit, sentence)}")
            own = self.scorer.coverage(tokens, text)
            # the more named answers a sentence gives (organisations, people, list items), the better
            # a table row's figures have their unit in the table's header ("金额（万元）")
            typed = f"{table_header(hit.text, sentence)} {sentence}" if sentence.startswith("|") else sentence
            shape = sum(weight * (0.5 + min(n, 3) / 2) for pattern, weight in wanted if (n := len(pattern.findall(typed))))
            # "2024年2月都发生了哪些事": a month or year the question names is what it asks about
            dated = 0.3 if dates and any(d in re.sub(r"\s+", "", sentence) for d in dates) else 0.0
            # ""国外无相关标准"这句在哪一节", ""标准中涉及专利的情况"那节原话": the words the question quotes
            cited = 0.5 if quoted and any(q in re.sub(r"\s+", "", f"{heading}{sentence}") for q in quoted) else 0.0
            # "原话是怎么写的": the document's own words, not our summary of them
            cited += 0.5 if verbatim and hit.kind == "document" else 0.0
            stated = 0.1 if "〔编制说明" in sentence else -0.1 if "〔可能〕" in sentence else 0.0
            novelty = self._novelty(sentence, echoed)
            features = (overlap, own, self._closeness(close), closeness, named, shape, stated, dated, cited, novelty, rank, position)
            score = sum(w * f for w, f in zip(SENTENCE_WEIGHTS, features))
            scored.append((score, len(scored), hit, sentence))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [(score, hit, sentence) for score, _, hit, sentence in scored]

    def _closeness(self, similarity: float) -> float:
        """Similarity above the relevance floor, as a share of the way to 1."""
        return max(0.0, (similarity - self.min_relevance) / max(1e-6, 1 - self.min_relevance))

    def _pick(self, hits: list[Hit], tokens: list[str], most: int = _MAX_SENTENCES) -> list[tuple[Hit, str]]:
        """The top sentences, no near-duplicates; none when the
        question asks for a kind of answer (a price, a time…) that none of them states."""
        scored = self.scored_sentences(hits, tokens)
        picked: list[tuple[Hit, str]] = []
        best = scored[0][1] if scored else None
        units = quote_units(best.text) if best else []
        if (
            best and len(best.clause_title) >= 2 and best.clause_title in self.focus and self.scorer.coverage(tokens, best.clause_title) >= 0.8
            and len(units) <= _WHOLE_CLAUSE and not any(u.startswith("|") for u in units)
        ):
            # the question is about a short clause and nothing else ("对标跟踪具体是跟谁对标"): its every line is the answer
            scored = [(score, hit, sentence) for score, hit, sentence in scored if hit.id == best.id]
            scored.sort(key=lambda item: units.index(item[2]) if item[2] in units else len(units))
            return [(hit, sentence) for _, hit, sentence in scored]
        for score, hit, sentence in scored:
            full = len(picked) == most or (picked and score < _CLOSE_TO_BEST * scored[0][0])
            if full and hit.kind != "document":
                continue
            same = next((i for i, (_, s) in enumerate(picked) if self._same_fact(sentence, s, tokens)), None)
            if same is None and not full:
                picked.append((hit, sentence))
            elif same is not None and hit.kind == "document" and picked[same][0].kind == "summary" and len(sentence) >= 6 \
                    and self._says_as_much(f"{hit.cite_as} {hit.clause_title} {sentence}", picked[same][1], tokens):
                picked[same] = (hit, sentence)  # the same fact in the document's own words beats our summary of it
        required = _required(self.question)
        if any(not any(states.search(f"{hit.clause_title} {table_header(hit.text, sentence)} {sentence}") for hit, sentence in picked) for states in required):
            return []
        return _with_enumerated(picked)

    def _same_fact(self, a: str, b: str, tokens: list[str]) -> bool:
        """Near-duplicates (the same fact told by the summary and by the note), but not parallel
        sentences that differ in what they name ("标准跟踪是…三项内容之一" and "专利跟踪是…"):
        every word of the shorter one, beyond the question's, is in the longer one too."""
        if not _similar(a, b):
            return False
        shorter, longer = sorted((a, b), key=len)
        flat = re.sub(r"\s+", "", longer)
        return all(t in flat for t in content_tokens(shorter, self.scorer.user_dict) if t not in tokens)

    def _says_as_much(self, document: str, summary: str, tokens: list[str]) -> bool:
        """The document's sentence (with its document's name and heading) holds every asked word our
        summary's does: "国外无相关标准。" stands
        in for "编制说明称国外无相关标准，指南本身不涉及专利" when asked where that phrase is, not when
        asked whether the guideline involves patents."""
        flat = re.sub(r"\s+", "", document)
        said = re.sub(r"\s+", "", summary)
        return all(t in flat for t in tokens if t in said)

    def _novelty(self, sentence: str, tokens: list[str]) -> float:
        """Share of a sentence that is not the question echoed back ("X对Y提出了要求" tells nothing)."""
        own = content_tokens(sentence, self.scorer.user_dict)
        return sum(1 for t in own if t not in tokens) / len(own) if own else 0.0

    # --- project answers ---
    def project(self, record: ProjectRecord, hits: list[Hit], asked: list[str]) -> Composed:
        """A project overview, or the record lines that answer a specific question about it."""
        overview = next((h for h in hits if h.clause_title == "项目概况"), None)
        # the words that name the project ("5G基站智能节能…") identify it; the rest say what is asked;
        # so does a person the project is known by ("陈立航负责的那个项目")
        known_by = [p for p in (record.owner, *(m.name for m in record.team)) if len(p) >= 2 and re.search(rf"{re.escape(p)}[^，,。？?]{{0,6}}的(?:那个|这个)?项目", self.question)]
        known_by += holder_said(self.question, record)  # "华岳通信那个基站节能项目"
        # "我们课题组那个正极材料项目，…": the phrase pointing at the project says nothing of what is asked
        pointer = _POINTER.search(self.question)
        rest = self.question[pointer.end():] if pointer else self.question
        asked = [t for t in asked if t not in record.name and not any(t in p for p in known_by) and (not pointer or t in rest)] or asked
        if not self.zh and all(t in record.name for t in asked):
            asked = []  # only the words naming the project have a Chinese form ("Who leads the … project?")
        # an English question asking for a kind of answer (who, when…) in words the record does not use:
        # the lines closest in meaning that give that kind of answer
        typed = not self.zh and not asked and any(asks.search(self.question) for asks, _, _ in _ANSWER_TYPES)
        picked = self._with_sibling_rows(self._pick_per_part(hits, asked), asked) if asked or typed else []
        if (asked or typed) and not picked:
            return self.decline(out_of_scope=False)
        lines = [self.banner(self.t(f"以下内容摘自项目记录 {record.id}。", f"From project record {record.id}."))]
        if overview:
            head = next((u for u in overview.text.splitlines() if u.startswith("项目名称")), "")
            stage = next((u for u in overview.text.splitlines() if u.startswith("当前阶段")), "")
            lines.append(f"{record.id}：{record.name}（{record.stage}）{self.cite(overview, head or stage)}")
        if asked or typed:
            for hit, sentence in picked:
                lines.append(f"- {_display(sentence)}{self.cite(hit, sentence)}")
        elif overview:
            for line in overview.text.splitlines()[2:]:
                lines.append(f"- {line}{self.cite(overview, head or line)}")
        return Composed("\n".join(lines), self.cited, grounded=bool(self.cited.items))

    def _pick_per_part(self, hits: list[Hit], asked: list[str]) -> list[tuple[Hit, str]]:
        """The lines for each question in the message ("谁牵头？总共预算多少万？"): one part's best
        lines must not crowd out the other's."""
        parts = split_questions(self.question)
        if len(parts) < 2:
            return self._pick(hits, asked, _MAX_RECORD_LINES)
        picked: list[tuple[Hit, str]] = []
        for part in parts:
            words = content_tokens(self.scorer.focus(part), self.scorer.user_dict)
            own = [t for t in asked if t in words]
            sub = Composer(part, self.scorer, self.min_relevance, self.cited, self.label)
            picked += [p for p in sub._pick(hits, own or asked, _MAX_RECORD_LINES) if p not in picked]
        return picked

    def _with_sibling_rows(self, picked: list[tuple[Hit, str]], asked: list[str]) -> list[tuple[Hit, str]]:
        """A picked table row brings the rows of its table that match the question as well as it does:
        "哪几件第三方专利" is answered by every such row, not by the first few sentences that fit."""
        out: list[tuple[Hit, str]] = []
        for hit, sentence in picked:
            if (hit, sentence) in out:
                continue
            out.append((hit, sentence))
            if not sentence.startswith("|"):
                continue
            bar = self.scorer.coverage(asked, _row_said(hit, sentence))
            rows = [u for u in quote_units(hit.text) if u.startswith("|")]
            out += [(hit, row) for row in rows if row != sentence and (hit, row) not in picked + out and bar > 0 and self.scorer.coverage(asked, _row_said(hit, row)) >= bar]
        return out

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
                lines += [f"  {self.t('项目记录：', 'The record says: ')}{line.lstrip('-| ').rstrip('| ')}{self.cite(hit, line)}" for hit, line in _record_notes(item, report.project_id, hits)]
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
                lines += [f"- {r.requirement}（{self._materials(r)}{self.t('适用', 'applies to')}：{r.applies_to}）{self._clause_markers(r.clauses[:1], hits, r.requirement)}" for r in items]
        return Composed("\n".join(lines), self.cited, grounded=True)

    def _materials(self, requirement) -> str:
        """The evidence a gate requirement asks for, when its wording does not name it ("已通过项目验收" → 验收报告)."""
        names = [d.name for d in requirement.deliverables if d.name not in requirement.requirement]
        return self.t(f"材料：{'、'.join(names)}；", f"evidence: {', '.join(names)}; ") if names else ""

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


_VERBATIM = re.compile(r"原话|原文|原句|原样|(?:怎么|咋|如何)(?:写|说|表述)的|\bverbatim\b|\bexact (?:words|wording)\b|\bword for word\b", re.I)
_QUOTED = re.compile(r"[“\"「『‘]([^”\"」』’]{2,40})[”\"」』’]")  # (not ': English writes "won't")
_DATE = re.compile(r"(?:19|20)\d{2}\s*年(?:\s*\d{1,2}\s*月)?")
# A question about a document's structure: its parts, sections, chapters or their headings
_OUTLINE = re.compile(
    # ("几条工作原则": 条 counts the items of a noun that follows, not the document's articles)
    r"(?:哪几|哪些|几)个?(?:部分|大部分|节|小节|章|条)(?![\u4e00-\u9fff]{2})|(?:最后|第[一二三四五六七八九十\d]+)(?:一)?(?:节|部分|章)的?(?:标题|叫|是|讲)|目录|章节|小节|"
    r"\b(?:outline|table of contents|sections|chapters)\b|\b(?:last|first|final) (?:section|chapter|part)\b",
    re.I,
)
# A question asking where something is said: in which section, clause, chapter or article
_LOCATE = re.compile(r"(?:在|是|属于|出自|见于)?哪一?(?:节|章|条|款|段|小节)|第几(?:节|章|条|款)|出处|\b(?:which|what) (?:section|clause|chapter|article)\b|\bwhere (?:in|does)\b", re.I)
_MAX_OUTLINE = 30  # headings shown in full; a longer document is outlined by its top-level headings


def _named_section(question: str, tops: list[str]) -> str:
    """The top-level heading a question names: by number ("第二部分", "第11章") or by its words ("工作简况")."""
    number = re.search(r"第\s*([一二三四五六七八九十百零〇两\d]+)\s*(?:部分|章|节)", question)
    wanted = numeral(number.group(1)) if number else None
    for top in dict.fromkeys(tops):
        label, _, words = top.partition(" ")
        if number:
            if wanted is not None and numeral(re.sub(r"^第|[章节条部分、.．]+$", "", label)) == wanted:
                return top
        elif len(words.strip()) >= 2 and words.strip() in question:
            return top
    return ""


def _headings(hit: Hit, last: str) -> list[str]:
    """The headings a chunk holds: its own, or each of a run of short clauses merged into one ("三、–四、")."""
    titles = [t for t in hit.clause_title.split("；") if t]
    first, _, final = hit.clause.partition("–")
    if len(titles) == 2 and final:
        return [f"{first} {titles[0]}", f"{final} {titles[1]}"]
    return [last] + [t for t in titles[1:]]


# "除了A、B（以外/之外），还…": the things a question sets aside as known
_SET_ASIDE = re.compile(r"除了?([^，,。？?；;]{1,30}?)(?:以外|之外|外)?(?:[，,]|还|也|另外)")


def _set_aside(question: str, user_dict) -> set[str]:
    """Content words of what a question sets aside ("除了前言、引言…"), unless it also asks about them elsewhere."""
    aside = {t for m in _SET_ASIDE.finditer(question) for t in content_tokens(m.group(1), user_dict)}
    rest = _SET_ASIDE.sub(" ", question)
    return {t for t in aside if t not in content_tokens(rest, user_dict)}


def _row_said(hit: Hit, sentence: str) -> str:
    """A sentence, or a table row with the names of its yes-columns ("| … | 是 |" under 涉及目标标准)."""
    return f"{affirmed_columns(table_header(hit.text, sentence), sentence)} {sentence}" if sentence.startswith("|") else sentence


def _record_notes(item, project_id: str, hits: list[Hit]) -> list[tuple[Hit, str]]:
    """The record's milestone and risk lines about an unmet requirement's material ("取得第三方专利许可声明…
    2025-11-30 进行中", "两件第三方专利的权利人尚未答复许可声明征集…"): why it is open and until when."""
    names = re.findall(r"[「《]([^」》]+)[」》]", item.evidence) or [item.requirement]
    keys = {re.sub(r"^(?:专利|项目)(?=..)", "", name) for name in names}
    notes = [
        (hit, line) for hit in hits if hit.doc_id == project_id and hit.clause_title in ("里程碑", "风险")
        for line in quote_units(hit.text) if any(key in line for key in keys)
    ]
    return notes[:2]


def _with_enumerated(picked: list[tuple[Hit, str]], most: int = 6) -> list[tuple[Hit, str]]:
    """A picked sentence brings the enumerated items that follow it in its clause: "……还要补充两部分
    内容。" says nothing without "一是专利布局……。二是标准化路径……。"."""
    out: list[tuple[Hit, str]] = []
    for hit, sentence in picked:
        if (hit, sentence) in out:
            continue
        out.append((hit, sentence))
        units = quote_units(hit.text)
        after = units[units.index(sentence) + 1 :] if sentence in units else []
        for unit in after[:most]:
            if not _ENUMERATED.match(unit):
                break
            if (hit, unit) not in out:
                out.append((hit, unit))
    return out


def _display(unit: str) -> str:
    """A table row reads as "a｜b｜c" in an answer; its quote keeps the row as stored."""
    if unit.startswith("|"):
        return "｜".join(cell.strip() for cell in unit.strip("|").split("|"))
    return unit


def _similar(a: str, b: str) -> bool:
    """Near-duplicate sentences (the same fact told by the summary and by the note)."""
    shorter, longer = sorted((a, b), key=len)
    return shorter in longer or len(set(shorter) & set(longer)) > 0.85 * len(set(shorter))

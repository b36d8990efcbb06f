"""Deciding what counts as evidence: relevance of a retrieved chunk and of its sentences.

A chunk is evidence for a question only when it is close in meaning (dense cosine at least
``settings.min_relevance``) *and* shares the question's informative words (IDF-weighted coverage
of the question's tokens). Dense similarity alone is not enough with a small multilingual model:
"今天天气怎么样" is still 0.85-similar to a project summary.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.index import Hit, KnowledgeIndex
from assistant.index.embeddings import relevance_floor
from assistant.index.lexical import expand_english, pos_tagger, tokenize

MIN_COVERAGE = 0.34  # share of the question's (IDF-weighted) information a chunk must contain
STAND_IN_CREDIT = 0.5  # coverage weight of a question word the corpus uses only in other words (chosen on dev)
FUNCTION_WORD_CREDIT = 0.25  # coverage weight of a word that only says how something is asked (chosen on dev)
KIND_OF_PROJECT_DF = 3  # chunks using "X项目" before X counts as a kind of project rather than a name
MIN_ASK_WORDS = 3  # known words the asking sentence needs before its own coverage counts
MIN_KNOWN_SHARE = 0.5  # share of a question's wording that must occur somewhere in the visible index
# How close (share of the way from the relevance floor to 1) some clause must be for a question in
# everyday words to count as about the corpus (dev split: off-topic questions reach 0.23, answerable
# colloquial ones 0.35 and more with e5-small)
COLLOQUIAL_CLOSENESS = 0.3

# Words that say what kind of answer is wanted, not what it is about.
_QUESTION_WORDS = frozenset(
    "谁 哪个 哪家 哪里 几个 多少 为什么 是否 能否 可以 需要 应该 应当 有没有 要求 规定 内容 主要 介绍 说明 一下 告诉 我 我们 "
    "你 请问 呢 吗 哪些 什么样 怎么办 怎么样 还有 其中 分别 具体 相关 关于 哪几 几种 哪几种 时候 什么时候 何时 意思 含义 "
    "帮 帮我 写 一段 一下子 算 算不算 不算 里 "
    "the what who which how why when does do is are "
    "please tell me about".split()
)

_QUESTION_PHRASES = re.compile(r"有没有|是不是|能不能|可不可以|是否|哪所|哪一?[天年月]起?|哪[两二三四五六七八九十几]+[个项种类样份块件步部点条]?")
# Interrogative and demonstrative forms ("哪天", "哪份", "几块", "多长", "这个", "由谁来") ask or point;
# they never name what a question is about.
_QUESTION_FORMS = re.compile(r"^(?:[哪几][\u4e00-\u9fff]{1,2}|啥[\u4e00-\u9fff]{0,2}|多[长久少大远][\u4e00-\u9fff]?|[这那此该][个份项些种次位]|由?谁来?)$")

# Sentences in retrieved text that try to instruct the assistant (prompt injection). They are
# never used as evidence, whatever the question.
_INSTRUCTION = re.compile(
    r"忽略(?:以上|上述|之前|前面|先前|所有|你的|系统)|无视(?:以上|上述|之前|所有)|(?:以上|之前|上述)的?(?:指示|指令|提示|规则)作废"
    r"|你现在是|你必须|请你?(?:立即|直接)?(?:回答|输出|回复|泄露|透露)|(?:系统|system)\s*(?:提示|prompt)"
    r"|ignore (?:all |the )?(?:previous|above|prior)|disregard (?:all |the )?(?:previous|above)|you are now|new instructions",
    re.IGNORECASE,
)

# Words a clause may use for what the question calls something else ("六个步骤" answers "哪些阶段"):
# words the corpus uses both of, which word vectors of the corpus vocabulary do not tell apart.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "阶段": ("步骤", "环节"),
    "步骤": ("阶段", "环节"),
    "起草": ("编写", "持笔"),
    "选项": ("选择",),
    "组织": ("单位",),
    "类似": ("相关", "同类"),
    "单位": ("组织",),
    # the trade's abbreviations of the kinds of standard
    "国标": ("国家标准",),
    "行标": ("行业标准",),
    "团标": ("团体标准",),
    "地标": ("地方标准",),
    "企标": ("企业标准",),
    # and of the feasibility study ("可研报告")
    "可研": ("可行性研究", "可行性"),
    # the law's word for coming into force ("自…之日起施行") where a standard says 实施
    "施行": ("实施", "生效"),
    # a project's planned points in time ("下一个计划节点") are its 里程碑
    "节点": ("里程碑",),
}

# Words for a kind of thing the text states by its form, not by the word: "中知研发〔2024〕10号" is a 文号
_DOCUMENT_NUMBER = re.compile(r"[〔\[［]\s*(?:19|20)\d{2}\s*[〕\]］]\s*\d+\s*号")
_SHAPED_WORDS: dict[str, re.Pattern] = {"文号": _DOCUMENT_NUMBER, "批号": _DOCUMENT_NUMBER, "发文字号": _DOCUMENT_NUMBER}

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")


def _within(token: str, text: str) -> bool:
    """``token`` occurs in ``text``; a number only as a whole number (the 1 of "1月" is not in "12月");
    a single Chinese character only as a word of its own (the 定 of "定在哪天" is not in "确定")."""
    if token.isdigit():
        return re.search(rf"(?<!\d){token}(?!\d)", text) is not None
    if len(token) == 1 and _CJK.match(token):
        return False
    return token in text


def is_instruction(text: str) -> bool:
    """True for text that addresses the assistant with orders — data must never steer behaviour."""
    return bool(_INSTRUCTION.search(text))


def content_tokens(text: str, user_dict) -> list[str]:
    """Tokens that carry the topic of a question: jieba search tokens minus question words."""
    return list(_content_tokens(text, user_dict))


@lru_cache(maxsize=16384)
def _content_tokens(text: str, user_dict) -> tuple[str, ...]:
    """Cached: the same sentences are scored for many questions."""
    text = _QUESTION_PHRASES.sub(" ", text)
    tokens = [t for t in dict.fromkeys(tokenize(text, user_dict)) if t not in _QUESTION_WORDS and not _QUESTION_FORMS.match(t)]
    # jieba's search mode also yields words straddling two others ("动工" in "联动工作"): noise.
    return tuple(t for t in tokens if not any(t in w and not (w.startswith(t) or w.endswith(t)) for w in tokens if w != t))


@lru_cache(maxsize=4096)
def lone_function_character(token: str, user_dict: str) -> bool:
    """A lone character that is no noun ("又", "该", the 定 of "定在哪天"): it says how, not what, is asked."""
    if len(token) != 1 or not _CJK.match(token):
        return False
    words = list(pos_tagger(user_dict).cut(token))
    return bool(words) and all(w.flag in _FUNCTION_FLAGS or w.flag.startswith("v") and w.flag != "vn" for w in words)


# Parts of speech that say how a question is asked rather than what about: verbs, adverbs,
# pronouns, time words, numerals ("原本打算啥时候弄完", "从哪天起开始施行"). A user's colloquial
# wording in them need not occur in the corpus for the question to be about the corpus.
_HOW_FLAGS = frozenset("v d r t p c u y m q f z e o vd ad ul uj uz ug uv".split())


def worded(text: str, user_dict) -> list[tuple[str, list[str]]]:
    """Each word of a question (jieba.posseg) with its part of speech's how/what flag and content tokens."""
    return list(_worded(text, str(user_dict)))


@lru_cache(maxsize=4096)
def _worded(text: str, user_dict: str) -> tuple[tuple[bool, tuple[str, ...]], ...]:
    out = []
    for word in pos_tagger(user_dict).cut(_QUESTION_PHRASES.sub(" ", text)):
        tokens = tuple(content_tokens(word.word, user_dict))
        if tokens:
            out.append((word.flag in _HOW_FLAGS, tokens))
    return tuple(out)


# Parts of speech of words that never say what a question is about, however rare they are in the
# corpus: adverbs, pronouns, numerals, particles, time and place words, adjectives, set phrases
# ("比较", "为啥", "一次", "来说", "合适", "长时间"). Verbs are not among them ("披露", "起草").
_FUNCTION_FLAGS = frozenset("d r m q p c u y e o f t z zg l a ad an ul uj uz ug uv ud".split())


@lru_cache(maxsize=16384)
def function_word(token: str, user_dict: str) -> bool:
    """True for a token every part of which is a function word (by its dictionary part of speech)."""
    words = list(pos_tagger(user_dict).cut(token))
    return bool(words) and all(w.flag in _FUNCTION_FLAGS for w in words)


@dataclass
class Scorer:
    """IDF-weighted token coverage against what one asker may see of one index.

    Every statistic (document frequencies, the number of chunks) is computed within the asker's
    visibility (``groups``; None = the local administrator), so no answer, refusal or timing can
    depend on words in records the asker cannot see.
    """

    index: KnowledgeIndex
    groups: list[str] | None = None
    _key: tuple | None = field(default=None, init=False, repr=False)
    # one answer scores dozens of sentences against the same question words: their weights and
    # stand-ins are worked out once per scorer (one scorer per question), not once per sentence
    _weights: dict = field(default_factory=dict, init=False, repr=False)
    _stand_ins: dict = field(default_factory=dict, init=False, repr=False)
    user_dict: Path = field(init=False, repr=False)  # jieba's user dictionary (the settings build the path anew each time)

    def __post_init__(self) -> None:
        self._key = None if self.groups is None else tuple(sorted(self.groups))
        self.user_dict = self.index.settings.terms_path

    def df(self, token: str) -> int:
        return _document_frequency(self.index, token, self._key)

    def idf(self, token: str) -> float:
        """IDF within what the asker sees; a word the corpus says in its own words weighs as that word."""
        total = max(_visible_total(self.index, self._key), 1)
        df = self.df(token)
        if df == 0 and (stand_ins := self.stand_ins(token)):
            df = self.df(stand_ins[0])
        return math.log(1 + (total + 1) / (df + 0.5))

    def known(self, query_tokens: list[str]) -> list[str]:
        """The tokens some visible chunk uses, or uses in its own words (执笔人 for 持笔人, 打算 for 计划)."""
        return [t for t in query_tokens if self.df(t) > 0 or self.stand_ins(t)]

    def literal(self, query_tokens: list[str]) -> list[str]:
        """The tokens some visible chunk uses as they are, or in a near form (no word vectors involved)."""
        return [t for t in query_tokens if self.df(t) > 0 or self.near_forms(t)]

    def stand_ins(self, token: str) -> tuple[str, ...]:
        """The visible corpus's own words for a word it never uses: listed synonyms, near forms, then words close in meaning."""
        if token not in self._stand_ins:
            if self.df(token) > 0:
                self._stand_ins[token] = ()
            else:
                listed = [word for word in SYNONYMS.get(token, ()) if self.df(word) > 0]  # "施行": 实施
                near = _near_words(self.index, self.index.generation, token, self._key)
                self._stand_ins[token] = tuple(dict.fromkeys((*listed, *self.near_forms(token), *near)))
        return self._stand_ins[token]

    def near_forms(self, token: str) -> tuple[str, ...]:
        """Words of the visible corpus that differ from an unknown Chinese word in one character.

        "执笔人" is not in the note, "持笔人" is: the corpus's own word stands in for the asker's.
        Only for words the corpus never uses, so known words are never blurred.
        """
        if len(token) < 3 or not _CJK.search(token) or self.df(token) > 0:
            return ()
        return _near_forms(self.index, self.index.generation, token, self._key)

    def coverage(self, query_tokens: list[str], text: str, function_credit: float = 1.0) -> float:
        """Share of the query's information found in ``text`` (0..1); a function word weighs
        ``function_credit`` of its IDF weight."""
        if not query_tokens:
            return 0.0
        present = _token_set(text, self.user_dict)
        lowered = text.lower()
        weights, total = self._token_weights(tuple(query_tokens), function_credit)

        def has(token: str) -> bool:
            return (
                token in present
                or _within(token, lowered)
                or (token in _SHAPED_WORDS and _SHAPED_WORDS[token].search(text) is not None)
                or any(s in lowered for s in SYNONYMS.get(token, ()))
                or any(word in lowered for word in self.stand_ins(token))
            )

        def compound(token: str) -> bool:
            """"专利信息披露" is there when its parts "专利" and "披露" are (most of its characters)."""
            parts = [p for p in query_tokens if p != token and p in token and has(p)]
            return len(token) >= 4 and sum(len(p) for p in parts) >= 2 * len(token) / 3

        found = sum(w for t, w in weights.items() if has(t) or compound(t))
        return found / total if total else 0.0

    def _token_weights(self, query_tokens: tuple[str, ...], function_credit: float) -> tuple[dict[str, float], float]:
        """Each question token's IDF weight (less for a stand-in's, ``function_credit`` of it for a function word), and their sum."""
        key = (query_tokens, function_credit)
        if key not in self._weights:
            literal = set(self.literal(list(query_tokens)))
            weights = {
                t: self.idf(t) * (STAND_IN_CREDIT if t not in literal and self.stand_ins(t) else 1.0)
                * (function_credit if function_credit != 1.0 and function_word(t, str(self.user_dict)) else 1.0)
                for t in query_tokens
            }
            self._weights[key] = (weights, sum(weights.values()))
        return self._weights[key]

    def focus(self, question: str) -> str:
        """``relevance_text`` of a question (English domain terms in the corpus's Chinese words)."""
        return relevance_text(question, self.index.settings.glossary_path)

    def hit_text(self, hit: Hit) -> str:
        return " ".join(p for p in (hit.cite_as, hit.title, hit.clause_path, hit.text) if p)

    def known_share(self, query_tokens: list[str], words_only: bool = False) -> float:
        """Share of the question's wording (by characters) that the visible corpus uses.

        Measured on the longest tokens, each character once: jieba's search mode also yields the
        parts of a compound ("标准化协会" → 标准, 协会, …), and counting tokens would let one known
        compound outweigh the words that say what is really asked ("食堂", "开饭").
        Words close in meaning (``stand_ins``) do not count here: word vectors of a small model
        also find "中国" for "美国" and "烧结" for "红烧肉", and counting them made six more
        out-of-scope dev questions look like questions about the knowledge base.
        ``words_only``: a single Chinese character the corpus uses somewhere covers nothing (for
        names: "高镍正极材料" is not named by the "高" and "材料" of other documents).
        """
        literal = [t for t in self.literal(query_tokens) if not (words_only and len(t) == 1 and _CJK.match(t))]
        longest = [t for t in query_tokens if not any(t != o and t in o for o in query_tokens)]
        total = covered = 0
        for token in longest:
            marks = [False] * len(token)
            for part in literal:
                start = token.find(part)
                while start >= 0:
                    marks[start : start + len(part)] = [True] * len(part)
                    start = token.find(part, start + 1)
            total += len(token)
            covered += sum(marks)
        return covered / total if total else 0.0

    def topic_share(self, question: str) -> float:
        """``known_share`` of a question's words, leaving out the unknown words that only say how it
        is asked (verbs, adverbs, pronouns…): "这个指南原本打算啥时候弄完" is about the guideline,
        "闫坤平时有什么爱好" is not (爱好 is what it asks about, and no document uses it)."""
        kept = [t for how, tokens in worded(question, self.user_dict) if not (how and not self.literal(list(tokens))) for t in tokens]
        return self.known_share(kept) if kept else 0.0

    def _colloquial(self, question: str, hits: list[Hit], floor: float) -> bool:
        """A question worded in words the corpus does not use is still about it when its nouns are
        the corpus's and a clause is clearly close in meaning ("这个指南原本打算啥时候弄完")."""
        best = max((h.dense_similarity or 0.0 for h in hits), default=0.0)
        if not question or best < floor + COLLOQUIAL_CLOSENESS * (1 - floor):
            return False
        return self.topic_share(self.focus(question)) >= MIN_KNOWN_SHARE

    def relevant(self, hits: list[Hit], query_tokens: list[str], question: str = "", english: bool = False) -> list[Hit]:
        """Hits close in meaning and sharing the question's informative words.

        Coverage counts only words the visible corpus uses: a word no chunk contains cannot tell
        one chunk from another ("批文" when the note says "立项（中知研发〔2024〕10号）"); whether
        the question is about the knowledge base at all is what ``known_share`` decides.
        A hit found only by keywords has no similarity score of its own: its closest sentence
        stands in for it, under the same coverage rule as any hit (a bar of 0.8 for such hits kept
        out clauses a question paraphrases, such as the note's "按 GB/T 1.1 和 GB/T 1.2 进行编写").
        An English question is measured against Chinese text, which a multilingual model scores
        lower: its floor is lower by ``CROSS_LINGUAL_DROP``.
        """
        threshold = relevance_floor(self.index.settings) - (CROSS_LINGUAL_DROP if english else 0.0)
        if self.known_share(query_tokens) < MIN_KNOWN_SHARE and not self._colloquial(question, hits, threshold):
            return []  # mostly words the knowledge base never uses: not a question about it
        literal = self.literal(query_tokens)
        if literal and all(_BARE_NUMBER.fullmatch(t) for t in literal):
            return []  # "How do I change the wallpaper on Windows 11?": a number says nothing of a topic
        names = [name for name in named_project(question) if not self.kind_of_project(name)]
        for side, words_only in [(side, False) for side in related_sides(question)] + [(name, True) for name in names]:
            tokens = content_tokens(side, self.user_dict)
            if tokens and self.known_share(tokens, words_only) < MIN_KNOWN_SHARE:
                return []  # "黑洞和标准化有什么关系": one side of the relation is not about the knowledge base;
                # "车路协同那个项目…" for a user who may see no such record: a project the index does not hold for them
        if self.unheld_documents(query_tokens):
            return []  # "GB/T 19001 现在是哪一版": a standard the knowledge base does not hold
        if self.unheld_names(question):
            return []  # "How does ISO handle declared patents?": a body the knowledge base never names
        known = self.known(query_tokens)
        # "我们课题组有个实验室成果，老板想转成标准…。按33450，主要看哪几个条件？": the background can
        # outweigh the ask; a clause that covers the asking sentence well enough is about the question too
        ask = self.known(content_tokens(self.focus(asking_sentence(question)), self.user_dict)) if question else []
        ask = ask if len(ask) >= MIN_ASK_WORDS and set(ask) != set(known) else []
        coverage = {
            h.id: max(self.coverage(known, self.hit_text(h), FUNCTION_WORD_CREDIT), self.coverage(ask, self.hit_text(h), FUNCTION_WORD_CREDIT) if ask else 0.0)
            for h in hits
        }
        asked = self.beyond_names(question, query_tokens)
        closeness = {h.id: h.dense_similarity for h in hits}
        for hit in hits:
            if hit.dense_similarity is None and coverage[hit.id] >= MIN_COVERAGE and question:
                units = sentences(hit.text) or [hit.text]
                closeness[hit.id] = max(sentence_similarities(self.index, question, units))
        kept = [h for h in hits if (closeness[h.id] or 0.0) >= threshold and coverage[h.id] >= MIN_COVERAGE]
        if asked and not any(self.says_any(asked, self.hit_text(h)) for h in kept):
            return []  # "某公司在招聘实习生吗": the clauses name the company and say nothing of what is asked
        return kept

    def unheld_documents(self, query_tokens: list[str]) -> list[str]:
        """The standard numbers a question names (gb/t19001, yd/t3709) that no text the asker may see
        contains, a series prefix included (gb/t20003 is held when GB/T 20003.1 is)."""
        text = _visible_texts(self.index, self.index.generation, self._key).lower()
        unheld = []
        for token in query_tokens:
            code = _STANDARD_TOKEN.match(token)
            if code and not re.search(rf"{re.escape(code.group(1))}\s*{re.escape(token[code.end(1):])}", text):
                unheld.append(token)
        return unheld

    def kind_of_project(self, name: str) -> bool:
        """"…写联动项目", "研发项目": the words before 项目 end in a kind of project the corpus speaks of
        often (联动项目, 研发项目, 标准项目), not in a project's own name."""
        return any(self.df(f"{name[-n:]}项目") >= KIND_OF_PROJECT_DF for n in (2, 3, 4) if len(name) >= n)

    def unheld_names(self, question: str) -> list[str]:
        """The acronyms a question names (ISO, IEEE, CQC) that no text the asker may see uses, in
        Latin letters or in the Chinese the glossary gives for them (CCSA: 中国通信标准化协会)."""
        text = _visible_texts(self.index, self.index.generation, self._key)
        unheld = []
        for name in dict.fromkeys(_ACRONYM.findall(question)):
            if re.search(rf"(?<![A-Za-z]){name}(?![A-Za-z])", text, re.IGNORECASE):
                continue
            chinese = expand_english(name, self.index.settings.glossary_path)[len(name):].split()
            if not (chinese and all(word in text for word in chinese)):
                unheld.append(name)
        return unheld

    def says_any(self, tokens: list[str], text: str) -> bool:
        """Whether ``text`` uses one of ``tokens`` in so many words (a near form or a listed synonym
        counts; a word only close in vector space does not)."""
        present = _token_set(text, self.user_dict)
        lowered = text.lower()
        return any(
            t in present or _within(t, lowered) or any(w in lowered for w in (*SYNONYMS.get(t, ()), *self.near_forms(t)))
            for t in tokens
        )

    def beyond_names(self, question: str, query_tokens: list[str]) -> list[str]:
        """What a question naming a person or an organisation asks about them: its words of two or
        more characters outside the names, function words left out. Empty when it names nobody."""
        spans = [m.span() for m in re.finditer(_ORGANISATION_NAME, question)]
        position = 0
        for word in pos_tagger(str(self.user_dict)).cut(question):
            if word.flag in _NAME_FLAGS:
                spans.append((position, position + len(word.word)))
            position += len(word.word)
        if not spans:
            return []
        names = "".join(question[a:b] for a, b in spans)
        return [
            t for t in query_tokens
            if len(t) >= 2 and _CJK.search(t) and t not in names and not function_word(t, str(self.user_dict))
        ]


_BARE_NUMBER = re.compile(r"[\d.,%]+")
# A standard's number as the tokeniser writes it: its prefix, then digits ("gb/t19001", "t/csae53")
# a name in capitals (ISO, IEEE, SAMR), not a standard's prefix (GB/T, YD/T, T/CAS) nor a unit (GB, KB)
_ACRONYM = re.compile(r"(?<![A-Za-z/])[A-Z]{2,6}(?![A-Za-z/])")
_STANDARD_TOKEN = re.compile(r"^((?:gb|[a-z]{1,4}/[tz]|t/[a-z]+))\d")

# Proper names in a question: people, organisations, places (jieba's parts of speech), and
# organisations by their suffix ("华充新能源科技股份有限公司" is tagged as four words)
_NAME_FLAGS = frozenset({"nr", "nrt", "nt", "ns"})
_ORGANISATION_NAME = re.compile(r"[\u4e00-\u9fff]{2,}?(?:研究院|研究会|协会|学会|委员会|公司|大学|学院|中心|联盟)")


_RELATION = re.compile(r"^(.+?)(?:和|与|跟|同)(.+?)(?:之间)?(?:有(?:什么|何|没有)|是什么|是怎样的?|存在什么)?的?(?:关系|关联|联系)")


def related_sides(question: str) -> tuple[str, ...]:
    """The two things a "A和B有什么关系" question relates (none for other questions): each must
    be about the knowledge base, or the relation cannot be, whatever the other side names."""
    relation = _RELATION.search(question)
    return relation.groups() if relation else ()


_NAMED_PROJECT = re.compile(r"([^\s，,。；;？?！!、的]{2,16}?)(?:那个|这个|这一)?项目")


def named_project(question: str) -> tuple[str, ...]:
    """The words a question names a project by ("浸没式液冷那个项目" → 浸没式液冷; none if it names none).

    Only the phrase right before 项目, to check that the index holds such words at all.
    ``route.project_named`` does not use it: it finds a visible record's own name words anywhere in
    a question that speaks of a project ("5G基站智能节能的项目谁牵头", English questions too).
    """
    found = _NAMED_PROJECT.search(question)
    return (found.group(1),) if found else ()


CROSS_LINGUAL_DROP = 0.05  # e5-small scores an English question about 0.05 lower against Chinese text


@lru_cache(maxsize=16384)
def _token_set(text: str, user_dict) -> frozenset[str]:
    """Each sentence is tokenised once, however many questions it is scored for."""
    return frozenset(tokenize(text, user_dict))


def _document_frequency(index: KnowledgeIndex, token: str, groups: tuple | None) -> int:
    """From the BM25 postings of the index's current generation (cheap: no cache, never stale).

    A single Chinese character weighs by the chunks whose text holds it at all ("定" is in 确定,
    规定…: it weighs little), though it matches only where it stands as a word of its own.
    """
    if len(token) == 1 and _CJK.match(token):
        return _character_frequency(index, index.generation, token, groups)
    return index.document_frequency(token, None if groups is None else list(groups))


@lru_cache(maxsize=4096)
def _character_frequency(index: KnowledgeIndex, generation: int, character: str, groups: tuple | None) -> int:
    """Visible chunks whose text holds ``character`` (per index generation)."""
    return sum(1 for text in _chunk_texts(index, generation, groups) if character in text)


@lru_cache(maxsize=16)
def _chunk_texts(index: KnowledgeIndex, generation: int, groups: tuple | None) -> tuple[str, ...]:
    return tuple(hit.text for hit in index.find(None, groups=None if groups is None else list(groups)))


def _visible_total(index: KnowledgeIndex, groups: tuple | None) -> int:
    """How many chunks the asker may see (records of other groups do not count)."""
    return index.visible_count(None if groups is None else list(groups))


@lru_cache(maxsize=64)
def _visible_texts(index: KnowledgeIndex, generation: int, groups: tuple | None) -> str:
    """All chunk text the asker may see in one generation, in one string (for near forms)."""
    return "\n".join(_chunk_texts(index, generation, groups))


@lru_cache(maxsize=4096)
def _near_words(index: KnowledgeIndex, generation: int, token: str, groups: tuple | None) -> tuple[str, ...]:
    """Words of the visible corpus close in meaning to one it never uses (per index generation)."""
    return index.near_words([token], None if groups is None else list(groups)).get(token, ())


@lru_cache(maxsize=4096)
def _near_forms(index: KnowledgeIndex, generation: int, token: str, groups: tuple | None) -> tuple[str, ...]:
    """Same-length words of the visible corpus matching ``token`` in all but one character (per index generation)."""
    text = _visible_texts(index, generation, groups)
    forms: dict[str, int] = {}
    for i in range(len(token)):
        pattern = re.escape(token[:i]) + r"[\u4e00-\u9fff]" + re.escape(token[i + 1 :])
        for match in re.finditer(pattern, text):
            if match.group(0) != token:
                forms[match.group(0)] = forms.get(match.group(0), 0) + 1
    return tuple(sorted(forms, key=forms.get, reverse=True))[:3]


def sentence_similarities(index: KnowledgeIndex, question: str, texts: list[str]) -> list[float]:
    """Cosine similarity of the question to each text (texts embedded as passages, once per index:
    ``index.sentence_vectors`` keeps them in memory and beside the index)."""
    if not texts:
        return []
    vectors = index.sentence_vectors.get(texts, index.embedder)
    query = _normalised(np.asarray(index.query_vector(question), dtype=np.float32))
    return [float(vectors[t] @ query) for t in texts]


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def sentences(text: str) -> list[str]:
    """Sentences of a chunk exactly as written (so each one is a verbatim quote).

    Headings of clauses merged into one chunk are context, not sentences; a short line that is
    a whole statement ("无。", "暂无。") is a sentence: under its heading it is the answer.
    """
    out = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        sentence = re.sub(r"^[-*•]\s+", "", sentence)
        whole_line = sentence.endswith("。") and _own_line(text, match)
        if (len(sentence) >= 6 or whole_line) and not sentence.startswith("|") and not HEADING.match(sentence):
            out.append(sentence)
    return out


HEADING = re.compile(r"^\s*(?:[一二三四五六七八九十]+、|\d+、)[^。]*$")


def _own_line(text: str, match: re.Match) -> bool:
    before, after = text[: match.start()].rstrip(" \t"), text[match.end() :].lstrip(" \t")
    return (not before or before.endswith("\n")) and (not after or after.startswith("\n"))


def heading_before(text: str, unit: str) -> str:
    """The clause heading a sentence sits under inside a chunk of merged clauses ("" if none)."""
    position = text.find(unit)
    lines = text[: max(position, 0)].splitlines()
    return next((line.strip() for line in reversed(lines) if HEADING.match(line)), "")


def table_header(text: str, row: str) -> str:
    """The header row of the table a row sits in ("| 科目 | 金额（万元） |": the unit of its figures), "" if none."""
    position = text.find(row)
    if position < 0 or not row.startswith("|"):
        return ""
    above = text[:position].splitlines()
    block = []
    for line in reversed(above):
        if not line.strip().startswith("|"):
            break
        block.append(line.strip())
    return block[-1] if block else ""


def affirmed_columns(header: str, row: str) -> str:
    """The header names of a row's yes-columns ("涉及目标标准" where the row says 是): what the row
    states in so many words, for "哪些专利会落进目标标准" (a 否 row states the opposite)."""
    names = [c.strip() for c in header.strip().strip("|").split("|")]
    cells = [c.strip() for c in row.strip().strip("|").split("|")]
    return " ".join(name for name, cell in zip(names, cells) if cell in ("是", "yes", "Yes", "true", "True") and name)


_CJK = re.compile(r"[\u4e00-\u9fff]")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_LATIN_WORD = re.compile(r"\b[A-Za-z]{2,}\b")
# standard and project numbers, and other numbers of two or more digits (a year, a stage code, a share):
# an English question's numbers are written as the Chinese text writes them
_CODE = re.compile(r"(?:GB/T|GB/Z|T/[A-Z]+)\s*\d+(?:\.\d+)*(?:-\d{4})?|P-\d{4}-\d{3}|(?<![\w.])\d{2,}(?:\.\d+)?%?(?![\w.])", re.IGNORECASE)


def asking_sentence(question: str) -> str:
    """The last sentence of a question, the one that asks (what comes before is often background)."""
    sentences = [s for s in re.split(r"(?<=[。！!；;])|(?<=\.)\s+", question.strip()) if s.strip()]
    return sentences[-1] if sentences else question


def is_chinese(text: str) -> bool:
    """Whether to answer in Chinese: a question with at least as many Han characters as English
    words ("GB/T 20003.1 对 FRAND 有什么要求？"); an English sentence naming a Chinese term
    ("…makes another company an affiliate (关联者)?") is English."""
    return len(_CJK.findall(text)) >= max(1, len(_LATIN_WORD.findall(text)))


def relevance_text(text: str, glossary) -> str:
    """What a question's relevance is judged on: English words become the Chinese terms they name.

    The corpus is Chinese; English words never occur in it, so only the translated domain terms
    (and standard or project numbers) can show that an English question is on topic.
    """
    if is_chinese(text):
        return text
    expanded = expand_english(text, glossary)
    additions = expanded[len(text):].strip()
    codes = " ".join(_CODE.findall(text) + _CJK_RUN.findall(text))  # and the Chinese terms it names as they are
    return f"{codes} {additions}".strip()

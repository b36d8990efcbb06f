"""Deciding what counts as evidence: relevance of a retrieved chunk and of its sentences.

A chunk is evidence for a question only when it is close in meaning (dense cosine at least
``settings.min_relevance``) *and* shares the question's informative words (IDF-weighted coverage
of the question's tokens). Dense similarity alone is not enough with a small multilingual model:
"今天天气怎么样" is still 0.85-similar to a project summary.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from assistant.index import Hit, KnowledgeIndex
from assistant.index.embeddings import relevance_floor
from assistant.index.lexical import expand_english, tokenize

MIN_COVERAGE = 0.34  # share of the question's (IDF-weighted) information a chunk must contain
MIN_KNOWN_SHARE = 0.5  # share of a question's tokens that must occur somewhere in the index
_KEYWORD_ONLY_COVERAGE = 0.8  # the same for a chunk that dense search did not return

# Words that say what kind of answer is wanted, not what it is about.
_QUESTION_WORDS = frozenset(
    "谁 哪个 哪家 哪里 几个 多少 为什么 是否 能否 可以 需要 应该 应当 有没有 要求 规定 内容 主要 介绍 说明 一下 告诉 我 我们 "
    "你 请问 呢 吗 哪些 什么样 怎么办 怎么样 还有 其中 分别 具体 相关 关于 哪几 几种 哪几种 时候 什么时候 何时 意思 含义 "
    "帮 帮我 写 一段 一下子 算 算不算 不算 里 "
    "the what who which how why when does do is are "
    "please tell me about".split()
)

_QUESTION_PHRASES = re.compile(r"有没有|是不是|能不能|可不可以|是否")

# Sentences in retrieved text that try to instruct the assistant (prompt injection). They are
# never used as evidence, whatever the question.
_INSTRUCTION = re.compile(
    r"忽略(?:以上|上述|之前|前面|先前|所有|你的|系统)|无视(?:以上|上述|之前|所有)|(?:以上|之前|上述)的?(?:指示|指令|提示|规则)作废"
    r"|你现在是|你必须|请你?(?:立即|直接)?(?:回答|输出|回复|泄露|透露)|(?:系统|system)\s*(?:提示|prompt)"
    r"|ignore (?:all |the )?(?:previous|above|prior)|disregard (?:all |the )?(?:previous|above)|you are now|new instructions",
    re.IGNORECASE,
)

# Words a clause may use for what the question calls something else ("六个步骤" answers "哪些阶段").
SYNONYMS: dict[str, tuple[str, ...]] = {
    "阶段": ("步骤", "环节"),
    "步骤": ("阶段", "环节"),
    "起草": ("编写", "持笔"),
    "选项": ("选择",),
    "组织": ("单位",),
    "类似": ("相关", "同类"),
    "单位": ("组织",),
}

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")


def is_instruction(text: str) -> bool:
    """True for text that addresses the assistant with orders — data must never steer behaviour."""
    return bool(_INSTRUCTION.search(text))


def content_tokens(text: str, user_dict) -> list[str]:
    """Tokens that carry the topic of a question: jieba search tokens minus question words."""
    text = _QUESTION_PHRASES.sub(" ", text)
    tokens = [t for t in dict.fromkeys(tokenize(text, user_dict)) if t not in _QUESTION_WORDS]
    # jieba's search mode also yields words straddling two others ("动工" in "联动工作"): noise.
    return [t for t in tokens if not any(t in w and not (w.startswith(t) or w.endswith(t)) for w in tokens if w != t)]


@dataclass
class Scorer:
    """IDF-weighted token coverage against one index (document frequencies are cached)."""

    index: KnowledgeIndex

    @property
    def user_dict(self):
        return self.index.settings.corpus_dir / "terms.txt"

    def idf(self, token: str) -> float:
        return _idf(self.index, token)

    def known(self, query_tokens: list[str]) -> list[str]:
        """The tokens some indexed chunk uses; others ("算不算", "天气") cannot be matched by any."""
        return [t for t in query_tokens if _document_frequency(self.index, t) > 0]

    def coverage(self, query_tokens: list[str], text: str) -> float:
        """Share of the query's information found in ``text`` (0..1)."""
        if not query_tokens:
            return 0.0
        present = set(tokenize(text, self.user_dict))
        lowered = text.lower()
        weights = {t: self.idf(t) for t in query_tokens}
        total = sum(weights.values())

        def has(token: str) -> bool:
            return token in present or token in lowered or any(s in lowered for s in SYNONYMS.get(token, ()))

        def compound(token: str) -> bool:
            """"专利信息披露" is there when its parts "专利" and "披露" are (most of its characters)."""
            parts = [p for p in query_tokens if p != token and p in token and has(p)]
            return len(token) >= 4 and sum(len(p) for p in parts) >= 2 * len(token) / 3

        found = sum(w for t, w in weights.items() if has(t) or compound(t))
        return found / total if total else 0.0

    def hit_text(self, hit: Hit) -> str:
        return " ".join(p for p in (hit.cite_as, hit.title, hit.clause_path, hit.text) if p)

    def relevant(self, hits: list[Hit], query_tokens: list[str]) -> list[Hit]:
        """Hits close in meaning and sharing the question's informative words.

        A hit found only by keywords has no similarity score; it counts when it holds nearly all of
        the question's information and some other hit shows the question is on topic.
        """
        known = self.known(query_tokens)
        if len(known) < MIN_KNOWN_SHARE * len(query_tokens):
            return []  # mostly words the knowledge base never uses: not a question about it
        threshold = relevance_floor(self.index.settings)
        coverage = {h.id: self.coverage(query_tokens, self.hit_text(h)) for h in hits}
        close = [h for h in hits if (h.dense_similarity or 0.0) >= threshold and coverage[h.id] >= MIN_COVERAGE]
        if not close:
            return []
        return [h for h in hits if h in close or (h.dense_similarity is None and coverage[h.id] >= _KEYWORD_ONLY_COVERAGE)]


def _document_frequency(index: KnowledgeIndex, token: str) -> int:
    return index.document_frequency(token)


def _idf(index: KnowledgeIndex, token: str) -> float:
    total = max(index.count(), 1)
    return math.log(1 + (total + 1) / (_document_frequency(index, token) + 0.5))


def sentences(text: str) -> list[str]:
    """Sentences of a chunk exactly as written (so each one is a verbatim quote)."""
    out = []
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0).strip()
        sentence = re.sub(r"^[-*•]\s+", "", sentence)
        if len(sentence) >= 6 and not sentence.startswith("|"):
            out.append(sentence)
    return out


_CJK = re.compile(r"[\u4e00-\u9fff]")
_CODE = re.compile(r"(?:GB/T|GB/Z|T/[A-Z]+)\s*\d+(?:\.\d+)*(?:-\d{4})?|P-\d{4}-\d{3}", re.IGNORECASE)


def is_chinese(text: str) -> bool:
    """Whether to answer in Chinese: any Han character in the question decides it."""
    return bool(_CJK.search(text))


def relevance_text(text: str, glossary) -> str:
    """What a question's relevance is judged on: English words become the Chinese terms they name.

    The corpus is Chinese; English words never occur in it, so only the translated domain terms
    (and standard or project numbers) can show that an English question is on topic.
    """
    if is_chinese(text):
        return text
    expanded = expand_english(text, glossary)
    additions = expanded[len(text):].strip()
    codes = " ".join(_CODE.findall(text))
    return f"{codes} {additions}".strip()

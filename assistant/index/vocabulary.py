"""The corpus's own words, embedded, to stand in for the words a question uses and the corpus does not.

A user asks when the guideline was "打算…弄完"; the explanatory note says "计划…完成". BM25 and
word coverage only see shared words, so the clause that answers is not found, or found and judged
irrelevant. The vocabulary is every content word of the indexed chunks (nouns, verbs, adjectives,
idioms and abbreviations by jieba's part of speech, and the domain terms of ``terms.txt``),
embedded with the index's own embedder. A question word that no visible chunk uses is matched to
the vocabulary words whose vectors stand out as closest to it: at least ``STANDOUT`` standard
deviations above its mean similarity to the visible vocabulary (the closest ``MAX_NEAR`` of them). The
cut-off is relative to each word's own similarity distribution, because a small multilingual
model scores any two short Chinese words 0.8–0.9 alike. The stand-ins expand the BM25 query and
count (at reduced weight) in answer coverage; they do not decide whether a question is about the
knowledge base at all (see ``Scorer.known_share``): word vectors are not precise enough for that.

Everything is computed within what the asker may see: a word used only by records hidden from
the asker is not a candidate and does not move the statistics, so it can never become a
stand-in word (or reveal that it exists).

Word vectors are kept in a SQLite file beside the index (``TextVectors``), so an incremental run
embeds only the words new to the corpus, and questions embed only their own unknown words.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.index.embeddings import Embedder, TextVectors
from assistant.index.lexical import LexicalIndex, jieba_tokenizer, pos_tagger

STANDOUT = 4.0  # standard deviations above a word's mean similarity to the vocabulary (chosen on the dev split)
MAX_NEAR = 1  # stand-in words per question word (dev: a second and third one added more noise than answers)
_MIN_VOCABULARY = 20  # a word can only stand out from a distribution of some size

_CJK_WORD = re.compile(r"[\u4e00-\u9fff]{2,8}")
# jieba's tags of content words: nouns (n…), verbs (v…), adjectives (a…), abbreviations (j),
# set phrases (l) and idioms (i); not numerals, directions, adverbs, pronouns or particles.
_CONTENT_TAGS = ("n", "v", "a", "j", "l", "i")


def content_words(candidates: list[str], user_dict: Path) -> list[str]:
    """The vocabulary among ``candidates``: Chinese words of 2–8 characters whose every jieba part is
    a content word, or a domain term of the user dictionary."""
    terms = _terms(user_dict)
    tagger = pos_tagger(str(user_dict))
    words = []
    for word in candidates:
        if not _CJK_WORD.fullmatch(word):
            continue
        if word in terms or all(pair.flag.startswith(_CONTENT_TAGS) for pair in tagger.lcut(word, HMM=False)):
            words.append(word)
    return words


def is_word(token: str, user_dict: Path) -> bool:
    """A Chinese word of jieba's dictionary or a domain term, not a character pair search mode cut across words."""
    return bool(_CJK_WORD.fullmatch(token)) and (bool(jieba_tokenizer(str(user_dict)).FREQ.get(token)) or token in _terms(user_dict))


# An English content word of a question: the corpus never uses it, its vector may find the corpus's word
# ("liquid-cooled" → 液冷, "EV" → 电动汽车); function words have no such counterpart.
_ENGLISH_WORD = re.compile(r"[a-z][a-z-]{1,30}", re.IGNORECASE)
_ENGLISH_FUNCTION_WORDS = frozenset(
    "a an the of to and or in on at by for from with into onto about as is are was were be been being do does did "
    "what which who whom whose when where why how can could should would will shall may might must "
    "this that these those it its their there here they them we our us you your i me my he she his her "
    "not no any some all each every have has had than then so such also only just very more most".split()
)


def is_english_word(token: str) -> bool:
    """An English content word (not a function word), whose vector may find the corpus's own word."""
    return bool(_ENGLISH_WORD.fullmatch(token)) and token.lower() not in _ENGLISH_FUNCTION_WORDS


@lru_cache(maxsize=4)
def _terms(user_dict: Path) -> frozenset[str]:
    if not user_dict.exists():
        return frozenset()
    lines = user_dict.read_text(encoding="utf-8").splitlines()
    return frozenset(line.split()[0] for line in lines if line.strip() and not line.startswith("#"))


class Vocabulary:
    """One index generation's content words and their vectors, with each word's BM25 column (to
    tell which words a set of visible chunks uses)."""

    def __init__(self, lexical: LexicalIndex, words: list[str], vectors: dict[str, np.ndarray]):
        self.generation = lexical.generation
        self.words = [w for w in words if w in vectors]
        self.matrix = np.vstack([vectors[w] for w in self.words]) if self.words else np.zeros((0, 1), np.float32)
        self._columns = lexical.columns(self.words)
        self._lexical = lexical

    @classmethod
    def build(cls, lexical: LexicalIndex, store: TextVectors, embedder: Embedder, user_dict: Path, progress=None) -> "Vocabulary":
        words = content_words(lexical.vocabulary(), user_dict)
        return cls(lexical, words, store.get(words, embedder, progress, "词表向量"))

    def visible(self, allowed: np.ndarray | None) -> np.ndarray:
        """Boolean mask over ``words``: used by some chunk ``allowed`` lets the asker see (None: all)."""
        if allowed is None:
            return np.ones(len(self.words), dtype=bool)
        return self._lexical.column_frequencies(self._columns, allowed) > 0

    def near(self, vectors: dict[str, np.ndarray], visible: np.ndarray) -> dict[str, tuple[str, ...]]:
        """For each word's vector, the visible vocabulary words that stand out as closest to it."""
        rows = np.flatnonzero(visible)
        if len(rows) < _MIN_VOCABULARY:
            return {word: () for word in vectors}
        candidates = self.matrix[rows]
        out: dict[str, tuple[str, ...]] = {}
        for word, vector in vectors.items():
            similarity = candidates @ vector
            spread = float(similarity.std()) or 1.0
            standout = (similarity - float(similarity.mean())) / spread
            # a word containing the question's word, or contained in it, is matched literally already
            order = [i for i in np.argsort(-standout, kind="stable")[: 4 * MAX_NEAR] if standout[i] >= STANDOUT]
            near = [self.words[rows[i]] for i in order]
            out[word] = tuple([w for w in near if word not in w and w not in word][:MAX_NEAR])
        return out

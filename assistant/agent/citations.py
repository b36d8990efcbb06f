"""Citations: markers [n] in answer text, each backed by a verbatim quote of a numbered chunk.

Quotes are always cut from the chunk text by code (never written by a model), and before an
answer leaves the service every quote is checked again against the chunk as stored in the
index. A marker whose citation fails the check is removed from the text.
"""

from __future__ import annotations

import re

from assistant.agent.evidence import Scorer, content_tokens, is_instruction, sentence_similarities, sentences
from assistant.index.embeddings import relevance_floor
from assistant.agent.models import Citation
from assistant.index import Hit, KnowledgeIndex

MIN_SUPPORT = 0.3  # share of a claim's information its cited source must hold (or be this close in meaning)
MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\]")
_CLAIM_START = re.compile(r"[。！？!?\n]")


def quote_units(text: str) -> list[str]:
    """Pieces of a chunk that can stand as a quote: its sentences and its table rows."""
    rows = [line.strip() for line in text.splitlines() if line.strip().startswith("|") and "---" not in line]
    units = [s for s in sentences(text) if not is_instruction(s)] + rows[1:]
    if not units:  # a clause that says only "无。" or "暂无。" is still an answer
        units = [line.strip() for line in text.splitlines() if line.strip() and not is_instruction(line)]
    return units


def best_quote(hit: Hit, claim: str, scorer: Scorer) -> str:
    """The sentence of ``hit`` that best supports ``claim`` (the first one when nothing overlaps)."""
    units = quote_units(hit.text)
    if not units:
        first = hit.text.strip().splitlines()[0].strip() if hit.text.strip() else ""
        return "" if is_instruction(first) else first
    tokens = content_tokens(claim, scorer.user_dict)
    return max(units, key=lambda unit: (scorer.coverage(tokens, unit), -units.index(unit)))


def make_citation(n: int, hit: Hit, quote: str) -> Citation:
    return Citation(
        n=n,
        doc_id=hit.doc_id,
        title=hit.title,
        standard=hit.standard,
        clause=hit.clause,
        clause_title=hit.clause_title,
        quote=quote,
        label=hit.citation,
        source=hit.source,
        chunk_id=hit.id,
    )


class CitationList:
    """Citations numbered in order of first use, one per chunk."""

    def __init__(self) -> None:
        self.items: list[Citation] = []

    def add(self, hit: Hit, quote: str, n: int | None = None) -> int | None:
        """The marker number for ``hit``; None when no verbatim quote can be given."""
        for item in self.items:
            if item.chunk_id == hit.id:
                return item.n
        if not quote or quote not in hit.text:
            return None
        number = n if n is not None else len(self.items) + 1
        self.items.append(make_citation(number, hit, quote))
        return number


def _claim_before(text: str, position: int) -> str:
    """The sentence a marker at ``position`` closes."""
    starts = [m.end() for m in _CLAIM_START.finditer(text, 0, position)]
    return text[starts[-1] if starts else 0 : position]


def supports(hit: Hit, quote: str, claim: str, scorer: Scorer) -> bool:
    """Whether the cited source states the claim: it holds the claim's information, or its quoted
    sentence is as close in meaning as relevant evidence is (an English claim over Chinese text)."""
    tokens = content_tokens(claim, scorer.user_dict)
    if tokens and scorer.coverage(tokens, hit.text) >= MIN_SUPPORT:
        return True
    floor = relevance_floor(scorer.index.settings)
    return bool(claim.strip()) and sentence_similarities(scorer.index, claim, [quote])[0] >= floor


def cite_markers(text: str, book_hits: dict[int, Hit], scorer: Scorer) -> tuple[str, list[Citation]]:
    """Map a model's [n] markers to the numbered chunks; a marker naming no chunk, or a chunk that
    does not state the claim the marker closes, is dropped.

    The numbers stay as the model wrote them, so the answer keeps the model's own numbering.
    """
    cited = CitationList()

    def replace(match: re.Match) -> str:
        kept = []
        claim = _claim_before(text, match.start())
        for part in re.split(r"\s*[,，、]\s*", match.group(1)):
            n = int(part)
            hit = book_hits.get(n)
            if hit is None:
                continue
            quote = best_quote(hit, claim, scorer)
            if supports(hit, quote, claim, scorer) and cited.add(hit, quote, n) is not None:
                kept.append(n)
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))

    return _tidy(MARKER.sub(replace, text)), sorted(cited.items, key=lambda c: c.n)


def verify(text: str, citations: list[Citation], index: KnowledgeIndex) -> tuple[str, list[Citation]]:
    """Keep only citations whose quote is verbatim in the chunk as stored; strip the others' markers."""
    stored = {hit.id: hit.text for hit in index.get(list(dict.fromkeys(c.chunk_id for c in citations)))}
    valid = [c for c in citations if c.quote and c.quote in stored.get(c.chunk_id, "")]
    numbers = {c.n for c in valid}

    def replace(match: re.Match) -> str:
        kept = [p for p in re.split(r"\s*[,，、]\s*", match.group(1)) if int(p) in numbers]
        return "".join(f"[{p}]" for p in dict.fromkeys(kept))

    return _tidy(MARKER.sub(replace, text)), valid


def renumbered(text: str, citations: list[Citation]) -> tuple[str, list[Citation]]:
    """The model's markers renumbered 1..k in order of its citations, so code-made text can continue the numbering."""
    numbers = {c.n: i for i, c in enumerate(sorted(citations, key=lambda c: c.n), 1)}

    def replace(match: re.Match) -> str:
        kept = [numbers[int(p)] for p in re.split(r"\s*[,，、]\s*", match.group(1)) if int(p) in numbers]
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))

    return MARKER.sub(replace, text), [c.model_copy(update={"n": numbers[c.n]}) for c in sorted(citations, key=lambda c: c.n)]


def _tidy(text: str) -> str:
    """No space left dangling where a marker was removed."""
    return re.sub(r"[ \t]+([。，；：！？,.;:!?])", r"\1", text)

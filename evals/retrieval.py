"""Retrieval evaluation: recall@1, recall@5 and MRR of bm25, dense and hybrid search.

Each question in ``evals/retrieval.yaml`` names the document and the clause (number or heading)
that answers it. A hit counts when it comes from that document and that clause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assistant.index import Hit
from assistant.tools.context import ToolContext
from assistant.tools.search import search_knowledge

QUESTIONS = Path(__file__).with_name("retrieval.yaml")
MODES = ("bm25", "dense", "hybrid")


@dataclass
class Question:
    q: str
    doc: str
    clause: str = ""  # clause number, e.g. "二、2" or "5.2.1"
    section: str = ""  # clause heading, for unnumbered summary sections
    lang: str = "zh"

    def matches(self, hit: Hit) -> bool:
        if hit.doc_id != self.doc:
            return False
        if self.clause and hit.clause != self.clause:
            return False
        return not self.section or hit.clause_title == self.section


@dataclass
class ModeScore:
    mode: str
    ranks: list[int | None] = field(default_factory=list)  # 1-based rank of the first match

    @property
    def recall_at_1(self) -> float:
        return sum(1 for r in self.ranks if r == 1) / len(self.ranks)

    @property
    def recall_at_5(self) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= 5) / len(self.ranks)

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r) / len(self.ranks)


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    return [Question(**item) for item in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]]


def evaluate(ctx: ToolContext, questions: list[Question], on_step: Callable[[], None] | None = None) -> dict[str, ModeScore]:
    """Rank of the expected clause for every question under every retrieval mode."""
    scores = {mode: ModeScore(mode) for mode in MODES}
    for question in questions:
        for mode in MODES:
            hits = search_knowledge(ctx, question.q, k=5, mode=mode)
            scores[mode].ranks.append(next((i for i, h in enumerate(hits, 1) if question.matches(h)), None))
        if on_step:
            on_step()
    return scores


def misses(questions: list[Question], score: ModeScore) -> list[Question]:
    return [q for q, r in zip(questions, score.ranks) if r is None]

"""Retrieval evaluation: recall@1, recall@5 and MRR of bm25, dense and hybrid search, and
exact-clause hit@3 on real-shaped documents.

Each question in ``evals/retrieval.yaml`` names the document and the clause (number or heading)
that answers it. A hit counts when it comes from that document and that clause.
``evals/retrieval_clauses.yaml`` names documents (a GB/T 1.1-style standard as PDF, regulations)
that are indexed with the shipped corpus into a private data dir, and questions whose exact
clause or article must come back in the top 3, reported per split (dev, held-out test).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assistant.errors import LinkageError
from assistant.index import Hit, KnowledgeIndex, Progress
from assistant.settings import PROJECT_ROOT, Settings
from assistant.tools.context import ToolContext
from assistant.tools.search import search_knowledge

QUESTIONS = Path(__file__).with_name("retrieval.yaml")
CLAUSE_QUESTIONS = Path(__file__).with_name("retrieval_clauses.yaml")
SPLITS = ("dev", "test")
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


# ----- exact clauses on real-shaped documents -----


@dataclass
class ClauseQuestion:
    q: str
    file: str  # name of the indexed file
    clause: str  # the clause id the splitter gives: "4.2", "A.1.1", "第十条"
    split: str = "dev"  # "test": held out, never tuned on

    def matches(self, hit: Hit) -> bool:
        return Path(hit.source_file).name == self.file and hit.clause == self.clause


@dataclass
class ClauseScore:
    questions: list[ClauseQuestion]
    ranks: list[int | None]  # 1-based rank of the exact clause within the top 5

    def hit_at(self, n: int, split: str | None = None) -> float:
        ranks = [r for q, r in zip(self.questions, self.ranks) if split is None or q.split == split]
        return sum(1 for r in ranks if r is not None and r <= n) / len(ranks) if ranks else 0.0

    def count(self, split: str | None = None) -> int:
        return sum(1 for q in self.questions if split is None or q.split == split)

    def misses(self, n: int = 3) -> list[ClauseQuestion]:
        return [q for q, r in zip(self.questions, self.ranks) if r is None or r > n]


def load_clause_set(path: Path = CLAUSE_QUESTIONS) -> tuple[list[Path], list[ClauseQuestion]]:
    """The documents to index (paths relative to the project root) and the questions."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    documents = [PROJECT_ROOT / p for p in data["documents"]]
    return documents, [ClauseQuestion(**item) for item in data["questions"]]


def clause_index(settings: Settings, documents: list[Path], data_dir: Path, progress: Progress | None = None) -> ToolContext:
    """The shipped corpus plus the eval documents, indexed into ``data_dir`` with the configured embedder."""
    missing = [str(p) for p in documents if not p.exists()]
    if missing:
        raise LinkageError(f"评测文档不存在（需要项目源码目录）：{'、'.join(missing)}")
    eval_settings = settings.model_copy(update={"data_dir": data_dir})
    index = KnowledgeIndex(eval_settings)
    report = index.sync(documents, progress=progress)
    if report.errors:
        raise LinkageError("评测文档未能索引：" + "；".join(str(e) for e in report.errors))
    return ToolContext(eval_settings, _index=index)


def evaluate_clauses(ctx: ToolContext, questions: list[ClauseQuestion], on_step: Callable[[], None] | None = None) -> ClauseScore:
    """Rank of the exact clause for every question (hybrid search, as users get it)."""
    ranks: list[int | None] = []
    for question in questions:
        hits = search_knowledge(ctx, question.q, k=5)
        ranks.append(next((i for i, h in enumerate(hits, 1) if question.matches(h)), None))
        if on_step:
            on_step()
    return ClauseScore(questions, ranks)

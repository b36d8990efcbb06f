"""Answer evaluation: fact recall, citation validity and refusal correctness of the assistant.

Two splits: ``evals/answers.yaml`` (dev: tune on it) and ``evals/answers-test.yaml`` (test: held
out, written before the composer was changed and never tuned on; CI thresholds apply to it).
Each question lists the facts a right answer contains (and words it
must not contain); out-of-scope questions must be declined. Citations are valid when their quote
is found verbatim in the cited chunk as stored in the index.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from assistant.agent.models import Answer
from assistant.agent.service import AssistantService
from assistant.errors import LinkageError
from assistant.index import KnowledgeIndex
from assistant.settings import Settings
from assistant.tools.context import User

QUESTIONS = Path(__file__).with_name("answers.yaml")
SPLITS = {"dev": QUESTIONS, "test": Path(__file__).with_name("answers-test.yaml")}


@dataclass
class AnswerQuestion:
    q: str
    facts: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    refuse: bool = False
    groups: list[str] | None = None
    after: str | None = None

    def __post_init__(self) -> None:
        self.facts = [str(f) for f in self.facts]  # YAML reads a bare 380 as a number
        self.absent = [str(w) for w in self.absent]

    @property
    def user(self) -> User:
        return User.local_admin() if self.groups is None else User(name="eval", groups=self.groups)


@dataclass
class Outcome:
    question: AnswerQuestion
    answer: Answer | None = None
    error: str = ""
    missing: list[str] = field(default_factory=list)  # facts not found, and absent words found
    checks: int = 0
    invalid_citations: int = 0

    @property
    def refused(self) -> bool:
        return self.answer is None or not self.answer.grounded

    @property
    def refusal_correct(self) -> bool:
        return self.refused == self.question.refuse

    @property
    def fact_recall(self) -> float:
        return 1 - len(self.missing) / self.checks if self.checks else 1.0


@dataclass
class Scores:
    mode: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def fact_recall(self) -> float:
        scored = [o for o in self.outcomes if o.checks]
        return sum(o.fact_recall for o in scored) / len(scored) if scored else 1.0

    @property
    def citations(self) -> int:
        return sum(len(o.answer.citations) for o in self.outcomes if o.answer)

    @property
    def citations_per_answer(self) -> float:
        """Citations per answered question: how much an answer quotes (recall alone rewards quoting more)."""
        answered = [o for o in self.outcomes if o.answer and not o.refused]
        return sum(len(o.answer.citations) for o in answered) / len(answered) if answered else 0.0

    @property
    def citation_validity(self) -> float:
        invalid = sum(o.invalid_citations for o in self.outcomes)
        return 1 - invalid / self.citations if self.citations else 1.0

    @property
    def refusal_accuracy(self) -> float:
        return sum(o.refusal_correct for o in self.outcomes) / len(self.outcomes) if self.outcomes else 1.0

    @property
    def false_refusals(self) -> float:
        """Share of answerable questions that were declined (the assistant too timid)."""
        answerable = [o for o in self.outcomes if not o.question.refuse]
        return sum(o.refused for o in answerable) / len(answerable) if answerable else 0.0

    @property
    def missed_refusals(self) -> float:
        """Share of must-decline questions that were answered (the assistant too bold)."""
        declinable = [o for o in self.outcomes if o.question.refuse]
        return sum(not o.refused for o in declinable) / len(declinable) if declinable else 0.0

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.missing or o.invalid_citations or not o.refusal_correct or o.error]


def load_split(name: str) -> list[AnswerQuestion]:
    """The questions of one split: ``dev`` or ``test``."""
    return load_questions(SPLITS[name])


def load_questions(path: Path = QUESTIONS) -> list[AnswerQuestion]:
    return [AnswerQuestion(**item) for item in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]]


def _normal(text: str) -> str:
    return re.sub(r"\s+", "", text)


def score(question: AnswerQuestion, answer: Answer, index: KnowledgeIndex) -> Outcome:
    """Which facts the answer holds, and which citations are not verbatim in their chunk."""
    text = _normal(answer.answer)
    missing = [f for f in question.facts if not any(_normal(alt) in text for alt in f.split("|"))]
    missing += [f"不应出现：{w}" for w in question.absent if _normal(w) in text]
    stored = {hit.id: hit.text for hit in index.get([c.chunk_id for c in answer.citations])}
    invalid = sum(1 for c in answer.citations if not c.quote or c.quote not in stored.get(c.chunk_id, ""))
    return Outcome(question, answer, missing=missing, checks=len(question.facts) + len(question.absent), invalid_citations=invalid)


@contextmanager
def eval_service(settings: Settings, index: KnowledgeIndex, mode: str) -> Iterator[AssistantService]:
    """A service over the real index whose conversations go to a throw-away database."""
    with tempfile.TemporaryDirectory(prefix="linkage-eval-") as scratch:
        update: dict = {"data_dir": Path(scratch)}
        if mode == "offline":
            update |= {"llm_base_url": "", "llm_model": ""}
        yield AssistantService(settings.model_copy(update=update), index=index)


def evaluate(service: AssistantService, questions: list[AnswerQuestion], on_step: Callable[[], None] | None = None) -> Scores:
    """Ask every question (follow-ups after their first question) and score the answers."""
    scores = Scores(service.mode)
    index = service.context(User.local_admin()).index
    for question in questions:
        try:
            conversation = service.ask(question.after, question.user).conversation_id if question.after else None
            answer = service.ask(question.q, question.user, conversation_id=conversation)
            scores.outcomes.append(score(question, answer, index))
        except LinkageError as exc:
            checks = len(question.facts) + len(question.absent)
            scores.outcomes.append(Outcome(question, error=str(exc), missing=list(question.facts), checks=checks))
        if on_step:
            on_step()
    return scores

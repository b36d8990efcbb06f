"""Conversation memory and feedback, so follow-ups resolve against earlier turns.

Stored through SQLAlchemy (`assistant.storage.database`): SQLite in the data dir by default,
PostgreSQL when ``LINKAGE_DATABASE_URL`` names one. A conversation belongs to the identity that
started it (the stable key a surface puts in ``User.name``: API key user, Slack team+user, DingTalk
staffId, CLI user+groups); anyone else presenting its id is refused, and its history is only ever
read back for that same identity.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, Table, Text, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from assistant.agent.models import Answer, Citation
from assistant.storage.database import Database

metadata = MetaData()  # what the migrations build; tests/test_conversations.py checks that they agree
conversations = Table(
    "conversations", metadata,
    Column("id", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)
turns = Table(
    "turns", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("mode", Text, nullable=False),
    Column("grounded", Integer, nullable=False),
    Column("citations", Text, nullable=False),
    Column("tool_calls", Text, nullable=False),
    Column("project_id", Text),
    Column("topic", Text),
    Column("created_at", Text, nullable=False),
    Index("turns_by_conversation", "conversation_id", "user", "id"),
)
feedback_table = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", Text),
    Column("user", Text, nullable=False),
    Column("rating", Text, nullable=False),
    Column("comment", Text, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("citations", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)
seen_signatures = Table(
    "seen_signatures", metadata,
    Column("timestamp", BigInteger, primary_key=True),
    Column("sign", Text, primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("seen_signatures_by_expiry", "expires_at"),
)


@dataclass
class Turn:
    question: str
    answer: str
    project_id: str | None
    topic: str | None
    citations: list[Citation]


def new_conversation_id() -> str:
    return uuid.uuid4().hex


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _cited(citations: list[Citation]) -> str:
    return json.dumps([c.model_dump() for c in citations], ensure_ascii=False)


class ConversationStore:
    """Turns, conversation owners, feedback and used DingTalk signatures in one database; safe to
    share between threads."""

    def __init__(self, database: Database):
        self.database = database

    def claim(self, conversation_id: str, owner: str) -> bool:
        """Start the conversation for ``owner`` if it is new; whether it is ``owner``'s."""

        def work(db: Connection) -> bool:
            dialect = postgresql if db.dialect.name == "postgresql" else sqlite
            db.execute(
                dialect.insert(conversations)
                .values(id=conversation_id, owner=owner, created_at=_now())
                .on_conflict_do_nothing(index_elements=["id"])
            )
            return db.scalar(select(conversations.c.owner).where(conversations.c.id == conversation_id)) == owner

        return self.database.run(work)

    def first_use(self, timestamp: int, signature: str, expires_ms: int, now_ms: int) -> bool:
        """Record a signed callback; False if this (timestamp, sign) pair was recorded before (a replay).

        The unique key decides, so replicas sharing the database accept each pair once. Pairs past
        ``expires_at`` would fail the signature check anyway and are deleted on the way.
        """

        def work(db: Connection) -> bool:
            db.execute(delete(seen_signatures).where(seen_signatures.c.expires_at < now_ms))
            dialect = postgresql if db.dialect.name == "postgresql" else sqlite
            inserted = db.scalar(
                dialect.insert(seen_signatures)
                .values(timestamp=timestamp, sign=signature, expires_at=expires_ms)
                .on_conflict_do_nothing()
                .returning(seen_signatures.c.expires_at)
            )
            return inserted is not None

        return self.database.run(work)

    def owns(self, conversation_id: str, owner: str) -> bool:
        """Whether this conversation exists and was started by ``owner``."""
        query = select(func.count()).where(conversations.c.id == conversation_id, conversations.c.owner == owner)
        return bool(self.database.run(lambda db: db.scalar(query)))

    def history(self, conversation_id: str, user: str, limit: int = 6) -> list[Turn]:
        """The user's last ``limit`` turns in this conversation, oldest first."""
        query = (
            select(turns.c.question, turns.c.answer, turns.c.project_id, turns.c.topic, turns.c.citations)
            .where(turns.c.conversation_id == conversation_id, turns.c.user == user)
            .order_by(turns.c.id.desc())
            .limit(limit)
        )
        rows = self.database.run(lambda db: db.execute(query).all())
        return [
            Turn(q, a, p, t, [Citation.model_validate(c) for c in json.loads(cites)])
            for q, a, p, t, cites in reversed(rows)
        ]

    def add_turn(
        self,
        conversation_id: str,
        user: str,
        question: str,
        answer: Answer,
        project_id: str | None,
        topic: str | None,
    ) -> None:
        """Remember one answered question with the project and topic a follow-up may refer to."""
        row = {
            "conversation_id": conversation_id,
            "user": user,
            "question": question,
            "answer": answer.answer,
            "mode": answer.mode,
            "grounded": int(answer.grounded),
            "citations": _cited(answer.citations),
            "tool_calls": json.dumps([t.model_dump() for t in answer.tool_calls], ensure_ascii=False),
            "project_id": project_id,
            "topic": topic,
            "created_at": _now(),
        }
        self.database.run(lambda db: db.execute(insert(turns).values(row)))

    def add_feedback(
        self,
        conversation_id: str | None,
        user: str,
        rating: str,
        comment: str,
        question: str,
        answer: str,
        citations: list[Citation],
    ) -> int:
        """Store a thumbs up/down; returns the feedback id."""
        row = {
            "conversation_id": conversation_id,
            "user": user,
            "rating": rating,
            "comment": comment,
            "question": question,
            "answer": answer,
            "citations": _cited(citations),
            "created_at": _now(),
        }
        statement = insert(feedback_table).values(row).returning(feedback_table.c.id)
        return int(self.database.run(lambda db: db.scalar(statement)))

    def feedback(self, conversation_id: str | None = None) -> list[dict]:
        """Stored feedback (oldest first), optionally for one conversation."""
        columns = [c for c in feedback_table.c if c.name != "id"]
        query = select(*columns).order_by(feedback_table.c.id)
        if conversation_id is not None:
            query = query.where(feedback_table.c.conversation_id == conversation_id)
        rows = self.database.run(lambda db: db.execute(query).mappings().all())
        return [dict(row) | {"citations": json.loads(row["citations"])} for row in rows]

    def count(self) -> dict[str, int]:
        """Rows per table (for checks after load tests and for operators)."""
        tables = {"conversations": conversations, "turns": turns, "feedback": feedback_table}
        return self.database.run(
            lambda db: {name: db.scalar(select(func.count()).select_from(table)) for name, table in tables.items()}
        )

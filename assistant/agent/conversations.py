"""Conversation memory and feedback in SQLite, so follow-ups resolve against earlier turns.

A turn is stored with the user who asked it and history is only ever read back for that same
user: a shared thread (a Slack channel) must not leak one user's record answers to another.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from assistant.agent.models import Answer, Citation

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    user TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    mode TEXT NOT NULL,
    grounded INTEGER NOT NULL,
    citations TEXT NOT NULL,
    tool_calls TEXT NOT NULL,
    project_id TEXT,
    topic TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation_id, user, id);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT,
    user TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


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


class ConversationStore:
    """Turns and feedback in one SQLite file; a connection per call keeps it thread-safe."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10)

    def history(self, conversation_id: str, user: str, limit: int = 6) -> list[Turn]:
        """The user's last ``limit`` turns in this conversation, oldest first."""
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT question, answer, project_id, topic, citations FROM turns "
                "WHERE conversation_id = ? AND user = ? ORDER BY id DESC LIMIT ?",
                (conversation_id, user, limit),
            ).fetchall()
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
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO turns (conversation_id, user, question, answer, mode, grounded, citations, tool_calls, "
                "project_id, topic, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    user,
                    question,
                    answer.answer,
                    answer.mode,
                    int(answer.grounded),
                    json.dumps([c.model_dump() for c in answer.citations], ensure_ascii=False),
                    json.dumps([t.model_dump() for t in answer.tool_calls], ensure_ascii=False),
                    project_id,
                    topic,
                    _now(),
                ),
            )

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
        with closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT INTO feedback (conversation_id, user, rating, comment, question, answer, citations, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    user,
                    rating,
                    comment,
                    question,
                    answer,
                    json.dumps([c.model_dump() for c in citations], ensure_ascii=False),
                    _now(),
                ),
            )
            return int(cursor.lastrowid)

    def feedback(self, conversation_id: str | None = None) -> list[dict]:
        """Stored feedback (newest last), optionally for one conversation."""
        query = "SELECT conversation_id, user, rating, comment, question, answer, citations, created_at FROM feedback"
        params: tuple = ()
        if conversation_id is not None:
            query += " WHERE conversation_id = ?"
            params = (conversation_id,)
        with closing(self._connect()) as db:
            rows = db.execute(query + " ORDER BY id", params).fetchall()
        keys = ("conversation_id", "user", "rating", "comment", "question", "answer", "citations", "created_at")
        return [dict(zip(keys, row)) | {"citations": json.loads(row[6])} for row in rows]

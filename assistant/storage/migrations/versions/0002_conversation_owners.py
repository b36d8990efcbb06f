"""Conversations have an owner: only the identity that started one may continue it.

Existing conversations are given to the identity of their first turn.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )
    turns = sa.table("turns", sa.column("id"), sa.column("conversation_id"), sa.column("user"), sa.column("created_at"))
    first = sa.select(sa.func.min(turns.c.id)).group_by(turns.c.conversation_id)
    op.execute(
        sa.table("conversations", sa.column("id"), sa.column("owner"), sa.column("created_at"))
        .insert()
        .from_select(["id", "owner", "created_at"],
                     sa.select(turns.c.conversation_id, turns.c.user, turns.c.created_at).where(turns.c.id.in_(first)))
    )


def downgrade() -> None:
    op.drop_table("conversations")

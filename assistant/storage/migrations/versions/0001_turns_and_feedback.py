"""Turns and feedback, as the first releases created them.

A database made by those releases (tables created without Alembic) is adopted as it is.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = sa.inspect(op.get_bind()).get_table_names()
    if "turns" not in existing:
        op.create_table(
            "turns",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("conversation_id", sa.Text, nullable=False),
            sa.Column("user", sa.Text, nullable=False),
            sa.Column("question", sa.Text, nullable=False),
            sa.Column("answer", sa.Text, nullable=False),
            sa.Column("mode", sa.Text, nullable=False),
            sa.Column("grounded", sa.Integer, nullable=False),
            sa.Column("citations", sa.Text, nullable=False),
            sa.Column("tool_calls", sa.Text, nullable=False),
            sa.Column("project_id", sa.Text),
            sa.Column("topic", sa.Text),
            sa.Column("created_at", sa.Text, nullable=False),
        )
        op.create_index("turns_by_conversation", "turns", ["conversation_id", "user", "id"])
    if "feedback" not in existing:
        op.create_table(
            "feedback",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("conversation_id", sa.Text),
            sa.Column("user", sa.Text, nullable=False),
            sa.Column("rating", sa.Text, sa.CheckConstraint("rating IN ('up', 'down')"), nullable=False),
            sa.Column("comment", sa.Text, nullable=False),
            sa.Column("question", sa.Text, nullable=False),
            sa.Column("answer", sa.Text, nullable=False),
            sa.Column("citations", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_index("turns_by_conversation", table_name="turns")
    op.drop_table("turns")

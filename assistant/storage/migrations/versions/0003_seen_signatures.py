"""Signed DingTalk callbacks already accepted, shared by every replica of one database.

The key is the (timestamp, sign) pair, so the insert itself decides which replica accepts a pair
first; rows are deleted once their timestamp is too old to pass the signature check anyway.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_signatures",
        sa.Column("timestamp", sa.BigInteger, primary_key=True),
        sa.Column("sign", sa.Text, primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("seen_signatures_by_expiry", "seen_signatures", ["expires_at"])


def downgrade() -> None:
    op.drop_index("seen_signatures_by_expiry", table_name="seen_signatures")
    op.drop_table("seen_signatures")

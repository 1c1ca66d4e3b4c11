"""Initial schema: rooms (id counters) and messages.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("room", sa.String(64), primary_key=True),
        sa.Column("last_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "messages",
        sa.Column("room", sa.String(64), primary_key=True),
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("provisional_id", sa.String(64), nullable=False),
        sa.Column("sender", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("date_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("room", "provisional_id", name="uq_messages_room_provisional_id"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("rooms")

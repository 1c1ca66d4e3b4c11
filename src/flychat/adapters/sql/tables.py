"""The SQL schema as SQLAlchemy Core tables. Migrations create it; nothing else does."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

rooms = Table(
    "rooms",
    metadata,
    Column("room", String(64), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
)
"""One row per room ever written: ``last_id`` is the id counter, never lowered."""

messages = Table(
    "messages",
    metadata,
    Column("room", String(64), primary_key=True),
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("provisional_id", String(64), nullable=False),
    Column("sender", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("date_ms", BigInteger, nullable=False),
    Column("user_sub", Text, nullable=True),
    UniqueConstraint("room", "provisional_id", name="uq_messages_room_provisional_id"),
    sqlite_with_rowid=False,
)
"""The retained messages; ``date_ms`` is milliseconds since the Unix epoch, UTC;
``user_sub`` is the sender's token ``sub`` (NULL for messages posted without a token)."""

presence = Table(
    "presence",
    metadata,
    Column("room", String(64), primary_key=True),
    Column("member", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("user_id", Text, nullable=True),
    Column("last_seen_ms", BigInteger, nullable=False),
    Column("beats", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
"""Present members: ``beats`` is 0 on the heartbeat that created the row, then counts up.

No index on ``last_seen_ms``: a heartbeat then changes no indexed column (a HOT update on
PostgreSQL), and the sweeper's scan covers only present members.
"""

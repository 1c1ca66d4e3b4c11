"""SQL stores (SQLite, PostgreSQL) on SQLAlchemy Core: log, engine, writer, migrations."""

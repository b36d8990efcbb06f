"""The relational database behind conversations and feedback: SQLite (WAL) by default, PostgreSQL for replicas."""

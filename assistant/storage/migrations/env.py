"""Alembic environment: migrations run on the connection `assistant.storage.database` hands over.

From the command line (``alembic -c assistant/storage/alembic.ini revision --autogenerate -m …``,
for writing a new revision) it connects to ``sqlalchemy.url`` itself and compares with the tables
the conversation store declares.
"""

from alembic import context
from sqlalchemy import create_engine

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
else:
    from assistant.agent.conversations import metadata

    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as own:
        context.configure(connection=own, target_metadata=metadata, render_as_batch=own.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()

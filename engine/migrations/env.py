"""Alembic environment: unionflow configures it in code (engine.migrate), no alembic.ini."""
from alembic import context

from engine.base.db import Base, make_engine
from engine.runtime import load_models

load_models()
config = context.config
connection = config.attributes.get("connection")


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        run(conn)
    engine.dispose()

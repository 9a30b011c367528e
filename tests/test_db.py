"""The database layer's own promises: reading transactions that do not stop writers, and rows
streamed alike on both databases."""
from __future__ import annotations

from datetime import timezone

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError

from engine.base.db import make_engine, make_session_factory, read_only, streamed_rows, utcnow
from engine.org.units import User


@pytest.fixture
def sqlite_file(tmp_path):
    """A SQLite file made by make_engine (WAL, BEGIN IMMEDIATE), waiting 0.2 s for a lock, not 10."""
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    event.listen(engine, "connect", lambda dbapi_connection, _record: dbapi_connection.execute(
        "PRAGMA busy_timeout=200"))
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    yield engine
    engine.dispose()


def test_on_sqlite_a_read_only_transaction_lets_writers_through(sqlite_file):
    factory = make_session_factory(sqlite_file)
    with factory() as reader, factory() as writer:
        assert read_only(reader).exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
        assert reader.in_transaction()
        writer.execute(text("INSERT INTO t VALUES (1)"))
        writer.commit()
        # The reader's snapshot is its own until it ends.
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
        reader.rollback()
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 1


def test_on_sqlite_any_other_transaction_holds_the_write_lock_from_its_start(sqlite_file):
    factory = make_session_factory(sqlite_file)
    with factory() as reader, factory() as writer:
        reader.execute(text("SELECT count(*) FROM t"))
        with pytest.raises(OperationalError, match="locked"):
            writer.execute(text("INSERT INTO t VALUES (1)"))


def test_streamed_rows_are_the_querys_rows_with_its_parameters(session, world):
    query = (select(User.id, User.username, User.created_dt)
             .where(User.username >= "applicant", User.created_dt <= utcnow()).order_by(User.id))
    expected = [tuple(row) for row in session.execute(query)]
    streamed = [tuple(row) for row in streamed_rows(session, query, batch=2)]
    assert len(expected) > 2
    # Datetimes are the driver's (aware, in any zone) on PostgreSQL: the same moments.
    assert [(i, name, dt.astimezone(timezone.utc)) for i, name, dt in streamed] == expected


def test_streamed_rows_refuse_in_lists_on_both_databases(session, world):
    with pytest.raises(ValueError, match="IN lists"):
        next(streamed_rows(session, select(User.id).where(User.id.in_([1, 2])), batch=10))

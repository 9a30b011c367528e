"""SQLAlchemy foundation: declarative base with a naming convention, column types, engines, sessions."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

import orjson
import psycopg
from sqlalchemy import JSON, DateTime, MetaData, Select, String, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; unionflow stores aware UTC datetimes only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# JSONB on PostgreSQL, JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")

# Materialized org paths are compared bytewise; a locale collation would reorder "/" and digits.
PathString = String(255).with_variant(String(255, collation="C"), "postgresql")


# Every id column is a 32-bit integer: PostgreSQL refuses a larger number in a query (a 500).
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# The execution option of a connection whose transaction only reads (``read_only``).
READ_ONLY_OPTION = "unionflow_read_only"


def make_engine(url: str, **kwargs) -> Engine:
    # JSON columns are read with orjson: an audit export decodes a million of them.
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        return _make_sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _make_sqlite_engine(url: str, **kwargs) -> Engine:
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (needed for SAVEPOINT).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: an approval reported as committed must survive a power cut.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # IMMEDIATE takes the write lock up front: a read-then-write unit of work
        # never fails half-way on a lock upgrade. A transaction that only reads begins
        # deferred and never holds it: in WAL mode it reads its snapshot beside the writers.
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def insert_for(session: Session, table):
    """An INSERT of the session's dialect, the one that has ``on_conflict_do_nothing`` / ``_do_update``
    (PostgreSQL's and SQLite's share the same form)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def read_only(session: Session) -> Connection:
    """The session's connection for reading only. A transaction it begins now holds no lock
    against writers: on SQLite it begins deferred instead of IMMEDIATE, so that a long read (an
    export of a million events) does not stop every approval meanwhile. If the session is
    already in a transaction, that one goes on as it began."""
    if session.in_transaction():
        return session.connection()
    return session.connection(execution_options={READ_ONLY_OPTION: True})


def streamed_rows(session: Session, query: Select, *, batch: int) -> Iterator[tuple[Any, ...]]:
    """The rows of a Core query, read as the database sends them, with flat memory.

    On PostgreSQL the rows come through psycopg's ``cursor.stream()`` rather than a server-side
    cursor: the server sends rows while Python works on the ones before, where a cursor makes
    the two take turns at every FETCH (a million-event export ran ~40 % faster, bench/README.md).
    Values are then the driver's, without the columns' result types: datetimes are aware, in
    the connection's time zone. The stream holds the connection until its last row, so the
    session must not be used meanwhile; a stream closed early leaves the transaction aborted,
    for the caller's rollback. Elsewhere the rows come through SQLAlchemy in batches. The
    transaction is a reading one (``read_only``).
    """
    connection = read_only(session)
    dialect = connection.dialect
    compiled = query.compile(dialect=dialect)
    if compiled.post_compile_params:  # refused on both databases alike
        raise ValueError("streamed_rows does not expand parameters (IN lists) of the query")
    if dialect.name != "postgresql":
        yield from connection.execute(query.execution_options(yield_per=batch))
        return
    params = {}
    for name, value in compiled.params.items():
        process = compiled.binds[name].type.bind_processor(dialect)
        params[name] = process(value) if process else value
    # Chunks need libpq 17; an older one streams row by row, which is still flat.
    size = batch if psycopg.capabilities.has_stream_chunked() else 1
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        yield from cursor.stream(str(compiled), params, size=size)
    finally:
        cursor.close()

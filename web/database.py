"""One database session per request, and the units of work that commit it.

Views that read use ``request_session()``; a view that writes is wrapped in ``unit_of_work`` (or
opens ``committing()`` around the engine operation) so the request commits exactly once, after the
view returned, and rolls back on any error. Effects the engine queued run after that commit."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Callable, Iterator

from flask import current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.base.config import Settings


@dataclass(frozen=True)
class UnionflowState:
    """What the app keeps in ``app.extensions["unionflow"]``."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    # The demo's password and a function listing its accounts, shown on the sign-in page (demo only).
    demo_sign_in: tuple[str, Callable[[Session], list]] | None = None


def request_session() -> Session:
    """The request's session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["unionflow"].session_factory()
    return g.db_session


def streamed_body(body: Callable[[Session], Iterator[bytes]]) -> Iterator[bytes]:
    """A response body read from the database while it is sent, in a session of its own.

    The request's session is closed by its teardown before a streamed body is sent; a body
    reading through it would open a transaction nobody ends (on SQLite, one that holds the
    database's write lock). This one is closed when the body ends or the client goes away.
    """
    session = current_app.extensions["unionflow"].session_factory()

    def chunks() -> Iterator[bytes]:
        try:
            yield from body(session)
        finally:
            session.close()

    return chunks()


def close_request_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()  # rolls back whatever was not committed


def unit_of_work(view: Callable) -> Callable:
    """The request's one commit point: commit after the view returns, roll back on any error.

    Side effects that engine operations queued run only after this commit succeeds.
    """

    @wraps(view)
    def run_and_commit(*args, **kwargs):
        with committing():
            return view(*args, **kwargs)

    return run_and_commit


@contextmanager
def committing() -> Iterator[Session]:
    """One unit of work inside a view: commit when the block ends, roll back on any error.

    Pages use it around the engine operation so that a refused operation can still answer
    with the form and its messages, after the rollback.
    """
    session = request_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise

"""Side effects (notifications, tasks) that must run only once the unit of work committed.

Operations ``publish`` domain events into the session; subscribers run after a
successful commit and never after a rollback. Pass ids to subscribers, not ORM objects.

A subscriber ``gathered`` hears once per commit, with every payload published under its name in
that unit of work and the bind the session wrote with (a batch of 200 approvals is one call,
not 200).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_subscribers: dict[str, list[Callable[..., None]]] = defaultdict(list)
_gathered: dict[str, list[Callable[..., None]]] = defaultdict(list)
_PENDING = "unionflow_pending_effects"
_ROLLED_BACK = "unionflow_rolled_back_savepoints"


def subscribe(name: str, handler: Callable[..., None], *, gathered: bool = False) -> None:
    """``handler(**payload)`` after each commit that published ``name``; gathered:
    ``handler(bind, payloads)`` once per such commit."""
    (_gathered if gathered else _subscribers)[name].append(handler)


def unsubscribe(name: str, handler: Callable[..., None]) -> None:
    for registry in (_subscribers, _gathered):
        if handler in registry.get(name, ()):
            registry[name].remove(handler)


def publish(session: Session, name: str, **payload) -> None:
    """Queue ``name`` for after the commit; dropped if the (possibly nested) transaction it was
    published in rolls back."""
    innermost = session.get_nested_transaction() or session.get_transaction()
    chain = []
    while innermost is not None:
        chain.append(innermost)
        innermost = innermost.parent
    session.info.setdefault(_PENDING, []).append((name, payload, chain))


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint released (SQLAlchemy says after_commit for it too): the work goes on
    pending = session.info.pop(_PENDING, [])
    undone = session.info.pop(_ROLLED_BACK, set())
    by_name: dict[str, list[dict]] = defaultdict(list)
    for name, payload, chain in pending:
        if any(transaction in undone for transaction in chain):
            continue  # published inside a savepoint that was rolled back
        by_name[name].append(payload)
        for handler in list(_subscribers.get(name, ())):
            _run(handler, name, **payload)
    for name, payloads in by_name.items():
        for handler in list(_gathered.get(name, ())):
            _run(handler, name, session.get_bind(), payloads)


def _run(handler: Callable[..., None], name: str, *args, **kwargs) -> None:
    try:
        handler(*args, **kwargs)
    except Exception:  # one failing side effect must not hide the others
        log.exception("side effect %s for %s failed", handler, name)


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole unit of work rolled back
        session.info.pop(_PENDING, None)
        session.info.pop(_ROLLED_BACK, None)
    else:  # a savepoint: forget what was published inside it when the outer work commits
        session.info.setdefault(_ROLLED_BACK, set()).add(previous_transaction)

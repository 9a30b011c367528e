"""Side effects (notifications, tasks) that must run only once the unit of work committed.

Operations ``publish`` domain events into the session; subscribers run after a
successful commit and never after a rollback. Pass ids to subscribers, not ORM objects.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
_subscribers: dict[str, list[Callable[..., None]]] = defaultdict(list)
_PENDING = "unionflow_pending_effects"


def subscribe(name: str, handler: Callable[..., None]) -> None:
    _subscribers[name].append(handler)


def unsubscribe(name: str, handler: Callable[..., None]) -> None:
    _subscribers[name].remove(handler)


def publish(session: Session, name: str, **payload) -> None:
    session.info.setdefault(_PENDING, []).append((name, payload))


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    for name, payload in pending:
        for handler in list(_subscribers.get(name, ())):
            try:
                handler(**payload)
            except Exception:  # one failing side effect must not hide the others
                log.exception("side effect %s for %s failed", handler, name)


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(_PENDING, None)

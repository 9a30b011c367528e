"""What a process loads before it works: every model (so the metadata is whole) and the rules
registered by the engine's procedures and by the rule modules beside the definitions."""
from __future__ import annotations

from sqlalchemy import MetaData

# Imported for their models and for the rules and actions they register on import.
from engine.audit import chain, signing, system_log  # noqa: F401
from engine.base.config import Settings
from engine.base.db import Base
from engine.calendar import working_days  # noqa: F401
from engine.cases import attachments, case, copies, records, review_rules, tasks  # noqa: F401
from engine.definitions import store  # noqa: F401
from engine.definitions.rules import load_rule_modules
from engine.notify import notifications  # noqa: F401
from engine.operations import telling, urging  # noqa: F401
from engine.org import accounts, delegations, units  # noqa: F401
from engine.procedures import juries, ledgers, notices, parameters, rounds  # noqa: F401


def bootstrap(settings: Settings) -> None:
    """Load the rule modules that live beside the definitions (call once per process)."""
    load_rule_modules(settings.workflows_dir)


def load_models() -> MetaData:
    """The metadata of every model (migrations, create_all): all are imported with this module."""
    return Base.metadata

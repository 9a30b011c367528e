"""unionflow engine: workflow definitions, state machines, cases, audit trail. Imports no Flask."""
from __future__ import annotations

from engine.config import Settings
from engine.messages import use_chinese_messages

use_chinese_messages()  # before any schema is built (see engine.messages)


def bootstrap(settings: Settings) -> None:
    """Load the rule modules that live beside the definitions (call once per process)."""
    from engine import juries, ledgers, notices, rounds  # noqa: F401 - their rules and actions register on import
    from engine.rules import load_rule_modules

    load_rule_modules(settings.workflows_dir)


def load_models() -> None:
    """Import every model module so the metadata is complete (migrations, create_all)."""
    from engine import (  # noqa: F401
        accounts, attachments, audit, audit_log, calendar, cases, deadlines, definitions, inbox, juries, ledgers,
        notices, notifications, org, parameters, records, rounds, signing, urging,
    )

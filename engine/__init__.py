"""unionflow engine: workflow definitions, state machines, cases, audit trail. Imports no Flask.

Sub-packages from the ground up (each may import only those below it; ``.importlinter`` holds the
order and ``make test`` checks it): base, org, definitions, then audit | calendar | notify, cases,
procedures, then operations | reading, and on top runtime and worker.
"""
from __future__ import annotations

from engine.base.messages import use_chinese_messages

use_chinese_messages()  # before any schema is built (see engine.base.messages)

"""A case and what it holds: the case row, permissions, state machines, waiting and deadline rows, the inbox,
files and records, the results import, and the check of its audit chain."""

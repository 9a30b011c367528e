"""A case and what it holds: the case row, permissions, state machines, tasks and deadlines, the inbox,
files and records, the results import, and the check of its audit chain."""

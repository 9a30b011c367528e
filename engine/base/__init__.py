"""The ground: database types and sessions, errors, settings, messages, effects after commit, input checks."""

"""The tamper-evident trail: the per-case hash chain and ledger, the system log, signing keys."""

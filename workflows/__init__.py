"""Declarative workflow definitions (one YAML file per kind) and their named rule functions.

A module here that defines rules with ``@engine.definitions.rules.rule("name")`` is imported at
start-up, so a definition can cite the rule by name in a transition's ``conditions``.
"""

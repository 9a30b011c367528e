"""Workflow definitions as data: their specification, parsing and checks, stored versions, forms and the rule registry."""

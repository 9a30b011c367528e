"""Telling people: in-app notifications and mail, sent exactly once after the commit."""

"""Placeholder until the auditor pages land (issue 5)."""
from flask import Blueprint

bp = Blueprint("auditor", __name__)

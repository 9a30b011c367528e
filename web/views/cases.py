"""Placeholder until the cases pages land (issue 5)."""
from flask import Blueprint

bp = Blueprint("cases", __name__)

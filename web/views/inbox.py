"""Placeholder until the inbox pages land (issue 5)."""
from flask import Blueprint

bp = Blueprint("inbox", __name__)

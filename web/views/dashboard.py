"""Placeholder until the dashboard pages land (issue 5)."""
from flask import Blueprint

bp = Blueprint("dashboard", __name__)

"""Placeholder until the public pages land (issue 5)."""
from flask import Blueprint

bp = Blueprint("public", __name__)

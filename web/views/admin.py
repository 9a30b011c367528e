"""Placeholder until the admin pages land (issue 5)."""
from flask import Blueprint

bp = Blueprint("admin", __name__)

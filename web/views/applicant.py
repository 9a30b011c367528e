"""Placeholder until the applicant pages land (issue 5)."""
from flask import Blueprint

bp = Blueprint("applicant", __name__)

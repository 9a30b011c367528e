"""The start page ("/"): what the signed-in person's role does, and the kinds of case."""
from __future__ import annotations

from flask import render_template

from engine.definitions.store import list_kinds
from web.auth import login_required
from web.database import request_session


@login_required
def home():
    return render_template("home.html", definitions=list_kinds(request_session()))

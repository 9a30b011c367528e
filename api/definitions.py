"""Workflow definitions: which kinds exist, and everything a client needs to render a form."""
from __future__ import annotations

from api import blueprint
from api.schemas import DefinitionSchema, DefinitionSummarySchema
from engine.definitions import current_definition, list_kinds
from web import request_session


@blueprint.get("/definitions")
def list_definitions():
    return {"definitions": DefinitionSummarySchema(many=True).dump(list_kinds(request_session()))}


@blueprint.get("/definitions/<kind>")
def get_definition(kind: str):
    return DefinitionSchema().dump(current_definition(request_session(), kind))

"""A JSON body is parsed once per request, by the bounded parser, whoever reads it after."""
from __future__ import annotations

import json

from tests.api_v1.conftest import error_of


def _counting_loads(monkeypatch, body: str) -> list[str]:
    parsed: list[str] = []
    real_loads = json.loads

    def loads(text, *args, **kwargs):
        if (text.decode() if isinstance(text, bytes) else text) == body:
            parsed.append(body)
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", loads)
    return parsed


def test_a_json_body_is_parsed_once_for_the_view_and_its_schema(api, monkeypatch):
    body = json.dumps({"kind": "basic_nomination"}, ensure_ascii=False)
    parsed = _counting_loads(monkeypatch, body)
    response = api("applicant_A1a").post("cases", data=body.encode(), content_type="application/json")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["kind"] == "basic_nomination"
    assert parsed == [body]


def test_a_malformed_body_is_refused_once_with_the_bounded_parsers_message(api, monkeypatch):
    body = '{"kind": "basic_nomination",'
    parsed = _counting_loads(monkeypatch, body)
    response = api("applicant_A1a").post("cases", data=body, content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["message"] == "请求体不是有效的 JSON"
    assert parsed == [body]


def test_an_empty_json_body_is_a_missing_one(api):
    response = api("applicant_A1a").post("cases", data="", content_type="application/json")
    assert response.status_code == 422
    assert "kind" in error_of(response)["fields"]

"""Meta routes through the local gateway: health, whoami, OpenAPI document, Swagger UI."""

from __future__ import annotations

import json

from etl_artifacts.api.meta_routes import merged_openapi_json


def test_health_needs_no_token(api):
    response = api.get("/api/v1/health", company=None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_whoami_returns_the_token_tenant(api, make_token):
    response = api.get("/api/v1/whoami", token=make_token("acme", sub="alice"))
    assert response.status_code == 200
    body = response.json()
    assert body["id_company"] == "acme"
    assert body["sub"] == "alice"
    assert body["expires_at"].endswith(("Z", "+00:00"))


def test_integer_company_claim_is_accepted(api, make_token):
    response = api.get("/api/v1/whoami", token=make_token(4242))
    assert response.status_code == 200
    assert response.json()["id_company"] == "4242"


def test_openapi_document_merges_every_family(api):
    response = api.get("/api/v1/openapi.json", company=None)
    assert response.status_code == 200
    document = response.json()
    # The served document is the merged one, so its content is tested without a server
    # (test_openapi_doc.py).
    assert document == json.loads(merged_openapi_json())
    assert document["openapi"].startswith("3.")
    assert "/api/v1/whoami" in document["paths"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_swagger_ui_is_served(api):
    response = api.get("/api/v1/docs", company=None)
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_unknown_route_is_404_json(api):
    response = api.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_docs_format_json_link_answers_the_document(api):
    """Swagger UI links its document as `docs?format=json`: that link is the JSON document, not HTML."""
    linked = api.get("/api/v1/docs", params={"format": "json"}, company=None)
    document = api.get("/api/v1/openapi.json", company=None)

    assert linked.status_code == 200
    assert linked.headers["Content-Type"].startswith("application/json")
    assert linked.json() == document.json()


def test_swagger_ui_shows_ndjson_as_text(api):
    page = api.get("/api/v1/docs", company=None).text

    # Without the interceptor Swagger UI JSON-parses "application/x-ndjson" and shows "can't parse JSON".
    assert "responseInterceptor" in page and "x-ndjson" in page


def test_swagger_ui_asks_for_json_first(api):
    page = api.get("/api/v1/docs", company=None).text
    data_route = page[page.index('"getPhaseData"') :]
    media = data_route[data_route.index('"200"') :]

    # Its default Accept is the first media type listed: the API's default, JSON (the published
    # document lists text/csv first for generated clients).
    assert media.index('"application/json"') < media.index('"text/csv"')

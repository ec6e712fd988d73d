"""Issue 10, security 4: browser security headers on the playground, the OpenAPI document and API answers,
and no Swagger UI page loading a CDN bundle without integrity."""

from __future__ import annotations

import pytest

from tests.unit.api.conftest import ApiHarness

COMMON = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def directives(policy: str) -> dict[str, str]:
    return {
        part.split(" ", 1)[0]: part.partition(" ")[2]
        for part in (p.strip() for p in policy.split(";"))
        if part
    }


@pytest.mark.parametrize("path", ["/playground/", "/playground/app.js", "/playground/playground.css"])
def test_the_playground_has_a_strict_policy(api: ApiHarness, path: str) -> None:
    response = api.client.get(path)
    assert response.status_code == 200
    for name, value in COMMON.items():
        assert response.headers[name] == value
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"  # no inline code, no CDN
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    # Another server only once confirmed, and only over HTTPS unless it is a loopback (local) one.
    assert policy["connect-src"].split() == ["'self'", "https:", "http://127.0.0.1:*", "http://localhost:*"]


def test_the_page_loads_nothing_from_another_origin(api: ApiHarness) -> None:
    page = api.client.get("/playground/").text
    assert "<script>" not in page and "style=" not in page  # everything inline would be refused by the CSP
    assert "http://" not in page and "https://" not in page


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/openapi.json", 200), ("GET", "/v1/assistants", 200), ("GET", "/v1/nope", 404)],
)
def test_api_answers_load_nothing_and_cannot_be_framed(
    api: ApiHarness, method: str, path: str, status: int
) -> None:
    response = api.client.request(method, path, headers=api.headers())
    assert response.status_code == status
    for name, value in COMMON.items():
        assert response.headers[name] == value
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"


def test_a_401_carries_the_headers_too(api: ApiHarness) -> None:
    response = api.client.get("/v1/assistants")
    assert response.status_code == 401
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_there_is_no_swagger_ui_page_only_the_openapi_document(api: ApiHarness) -> None:
    """FastAPI's Swagger UI pulls an unpinned bundle from cdn.jsdelivr.net without integrity."""
    docs = api.client.get("/v1/docs")
    assert docs.status_code == 401  # an unknown /v1 path, authenticated like any other
    assert api.client.get("/v1/docs", headers=api.headers()).status_code == 404
    document = api.client.get("/v1/openapi.json")
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
    assert "cdn.jsdelivr.net" not in api.client.get("/v1/docs", headers=api.headers()).text

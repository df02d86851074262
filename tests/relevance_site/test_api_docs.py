from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

OPENAPI_JSON = "application/vnd.oai.openapi+json"


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_schema_and_docs_refuse_anonymous(client: Client, db: None, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 401
    assert b"/api/v1/pairs/" not in response.content


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_load_from_local_static_files_only(client: Client, alice: User, url: str) -> None:
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), "docs page must not load anything from the internet"
    assets = re.findall(r'(?:src|href)="/static/([^"?]+)', html)
    assert any(asset.endswith(".js") for asset in assets)
    for asset in assets:
        assert finders.find(asset), f"{asset} is not a vendored static file"


def test_swagger_ui_points_at_the_local_schema(client: Client, engineer: User) -> None:
    client.force_login(engineer)
    html = client.get("/api/docs/").content.decode()
    assert '"/api/schema/' in html


def test_schema_lists_the_api_endpoints(client: Client, reviewer: User) -> None:
    client.force_login(reviewer)
    response = client.get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON)
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for resource in ("queries", "pins", "pairs"):
        assert {"get", "post"} <= set(paths[f"/api/v1/{resource}/"])
        assert {"get", "put", "patch", "delete"} <= set(paths[f"/api/v1/{resource}/{{id}}/"])
    assert "post" in paths["/api/v1/auth/token"]
    pair_filters = {p["name"] for p in paths["/api/v1/pairs/"]["get"]["parameters"]}
    assert {"language", "pool", "labeled", "query_id", "search", "cursor"} <= pair_filters


def test_schema_is_served_to_a_token(client: Client, engineer: User) -> None:
    token = Token.objects.create(user=engineer)
    response = client.get("/api/schema/", HTTP_ACCEPT=OPENAPI_JSON, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert "/api/v1/pairs/" in json.loads(response.content)["paths"]


def test_schema_generates_without_warnings_and_validates(db: None, tmp_path: Path) -> None:
    # --fail-on-warn raises on any generator warning; --validate checks it against the OpenAPI spec.
    target = tmp_path / "schema.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(target))
    schema = json.loads(target.read_text())
    assert schema["info"]["title"] == "Relevance Studio API"
    assert "/api/v1/pairs/{id}/" in schema["paths"]


def _api_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for template, methods in schema["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", template)
        operations += [(method, url) for method in methods if method in {"get", "post", "put", "patch", "delete"}]
    return operations


def test_every_api_operation_refuses_anonymous(db: None) -> None:
    client = APIClient()
    operations = _api_operations()
    assert len(operations) >= 15
    answers = {(method, url): getattr(client, method)(url, {}, format="json").status_code for method, url in operations}
    # The token endpoint is the way in, so it is the one open door.
    assert answers.pop(("post", "/api/v1/auth/token")) == 400
    assert set(answers.values()) == {401}, {op: status for op, status in answers.items() if status != 401}

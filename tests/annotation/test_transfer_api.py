from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.importing import import_pairs
from annotation.models import Pair
from tests.annotation.transfer_files import make_row, table_counts, write_csv

JAPANESE = make_row(1, query_id="ja-1", query="赤いドレス", language="ja")


def _client(user: User | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _jsonl(*rows: dict) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def test_engineer_imports_a_file_with_token_auth(engineer: User) -> None:
    upload = SimpleUploadedFile("pairs.jsonl", _jsonl(JAPANESE, make_row(2)))

    response = _client(engineer).post("/api/v1/import", {"file": upload, "pool": "unlabeled"}, format="multipart")

    assert response.status_code == 201
    assert response.json()["pairs_created"] == 2
    assert set(Pair.objects.values_list("pool", flat=True)) == {"unlabeled"}


def test_file_format_overrides_the_name(engineer: User, tmp_path: Path) -> None:
    content = write_csv(tmp_path / "x.csv", [make_row(1)]).read_bytes()
    upload = SimpleUploadedFile("upload.bin", content)

    response = _client(engineer).post("/api/v1/import", {"file": upload, "file_format": "csv"}, format="multipart")

    assert response.status_code == 201
    assert table_counts() == (1, 1, 1)


def test_services_import_a_json_list_of_rows(engineer: User) -> None:
    rows = [JAPANESE, {"query": "zapatos rojos para mujer", "pin_id": "p9"}]

    response = _client(engineer).post("/api/v1/import", {"rows": rows, "pool": "evaluation"}, format="json")

    assert response.status_code == 201
    assert response.json()["languages_detected"] == 1
    assert Pair.objects.get(pin__external_id="p9").query.language == "es"


def test_bad_rows_give_400_with_every_error_and_write_nothing(engineer: User) -> None:
    rows = [make_row(1), make_row(2, label=6), make_row(3, pin_id="")]

    response = _client(engineer).post("/api/v1/import", {"rows": rows}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"line": 2, "field": "label", "reason": "must be an integer from 1 to 5, or empty"},
        {"line": 3, "field": "pin_id", "reason": "required"},
    ]
    assert table_counts() == (0, 0, 0)


@pytest.mark.parametrize("who", ["reviewer", "alice"])
def test_only_engineers_import(who: str, request: pytest.FixtureRequest) -> None:
    response = _client(request.getfixturevalue(who)).post("/api/v1/import", {"rows": [make_row(1)]}, format="json")

    assert response.status_code == 403
    assert table_counts() == (0, 0, 0)


def test_anonymous_is_refused(db: None) -> None:
    assert _client().post("/api/v1/import", {"rows": [make_row(1)]}, format="json").status_code == 401
    assert _client().get("/api/v1/export").status_code == 401


@pytest.mark.parametrize("who", ["engineer", "reviewer"])
def test_staff_export_streams_the_import_format(who: str, request: pytest.FixtureRequest) -> None:
    client = _client(request.getfixturevalue(who))
    import_pairs(io.BytesIO(_jsonl(JAPANESE, make_row(2, label=None))))

    response = client.get("/api/v1/export", {"file_format": "jsonl"})

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [(row["query"], row["label"]) for row in rows] == [("赤いドレス", 2), ("query number 2", None)]


def test_export_filters_and_qrels(reviewer: User) -> None:
    import_pairs(io.BytesIO(_jsonl(JAPANESE, make_row(2), make_row(3, label=None))))
    client = _client(reviewer)

    qrels = client.get("/api/v1/export", {"file_format": "qrels", "language": "en"})
    labeled = client.get("/api/v1/export", {"file_format": "csv", "labeled_only": "1"})

    assert b"".join(qrels.streaming_content).decode() == "q2 0 p2 3\n"
    assert len(b"".join(labeled.streaming_content).decode().splitlines()) == 3
    assert client.get("/api/v1/export", {"file_format": "xml"}).status_code == 400


def test_annotators_may_not_export(alice: User) -> None:
    assert _client(alice).get("/api/v1/export").status_code == 403


def test_schema_documents_import_and_export(engineer: User) -> None:
    client = APIClient()
    client.force_authenticate(engineer)

    schema = client.get("/api/schema/").content.decode()

    assert "/api/v1/import:" in schema and "/api/v1/export:" in schema
    assert "operationId: import_pairs" in schema and "operationId: export_labels" in schema
    assert "multipart/form-data" in schema and "ImportRowError" in schema

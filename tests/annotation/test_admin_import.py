from __future__ import annotations

import json

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotation.models import Pair
from tests.annotation.transfer_files import make_row, table_counts

URL = reverse("admin:annotation_import")


def _upload(*rows: dict, name: str = "pairs.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, "".join(json.dumps(row) + "\n" for row in rows).encode())


def test_engineer_sees_the_form(client: Client, engineer: User) -> None:
    client.force_login(engineer)

    response = client.get(URL)

    assert response.status_code == 200
    assert b'type="file"' in response.content and b'name="pool"' in response.content


def test_engineer_imports_and_is_sent_to_the_pair_list(client: Client, engineer: User) -> None:
    client.force_login(engineer)

    response = client.post(URL, {"file": _upload(make_row(1), make_row(2)), "pool": "unlabeled"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:annotation_pair_changelist")
    assert "Imported 2 rows" in response.content.decode()
    assert set(Pair.objects.values_list("pool", flat=True)) == {"unlabeled"}


def test_errors_are_all_shown_and_nothing_is_written(client: Client, engineer: User) -> None:
    client.force_login(engineer)
    rows = [make_row(1), make_row(2, label=8), make_row(3), make_row(4, split="dev")]

    response = client.post(URL, {"file": _upload(*rows), "pool": "human"})

    page = response.content.decode()
    assert response.status_code == 400
    assert "2 errors" in page
    assert "<td>2</td><td>label</td><td>must be an integer from 1 to 5, or empty</td>" in page
    assert "<td>4</td><td>split</td><td>must be one of train, val, test, or empty</td>" in page
    assert table_counts() == (0, 0, 0)


def test_reviewer_is_refused(client: Client, reviewer: User) -> None:
    client.force_login(reviewer)

    assert client.get(URL).status_code == 403
    assert client.post(URL, {"file": _upload(make_row(1)), "pool": "human"}).status_code == 403
    assert table_counts() == (0, 0, 0)


def test_annotator_is_refused(client: Client, alice: User) -> None:
    client.force_login(alice)

    response = client.post(URL, {"file": _upload(make_row(1)), "pool": "human"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert table_counts() == (0, 0, 0)

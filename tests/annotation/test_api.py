from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Pair, Pin, Pool, Query, Split, derived_query_id


def make_query(external_id: str, text: str, language: str = "en") -> Query:
    return Query.objects.create(external_id=external_id, text=text, language=language)


def make_pin(external_id: str, title: str = "", **fields: Any) -> Pin:
    return Pin.objects.create(external_id=external_id, title=title, **fields)


def make_pair(query: Query, pin: Pin, **fields: Any) -> Pair:
    return Pair.objects.create(query=query, pin=pin, **fields)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def world(db: None) -> dict[str, Pair]:
    """Four pairs over two English queries and one Spanish one, in every pool and split."""
    sofa = make_query("q-sofa", "green velvet sofa")
    boots = make_query("q-boots", "hiking boots")
    mesa = make_query("q-mesa", "mesa de comedor", language="es")
    sofa_pin = make_pin("p-sofa", "Emerald velvet couch", image_url="https://img.example/sofa.jpg")
    boots_pin = make_pin("p-boots", "Waterproof trail boots")
    mesa_pin = make_pin("p-mesa", "Mesa de roble", language="es")
    return {
        "sofa": make_pair(sofa, sofa_pin, label=5, split=Split.TRAIN),
        "sofa_boots": make_pair(sofa, boots_pin, label=1, split=Split.TEST),
        "boots": make_pair(boots, boots_pin),
        "mesa": make_pair(mesa, mesa_pin, pool=Pool.UNLABELED),
    }


ENDPOINTS = ["/api/v1/", "/api/v1/queries/", "/api/v1/pins/", "/api/v1/pairs/"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_anonymous_is_refused_on_lists(api: APIClient, world: dict[str, Pair], url: str) -> None:
    response = api.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("resource", ["queries", "pins", "pairs"])
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_anonymous_is_refused_on_details(api: APIClient, world: dict[str, Pair], resource: str, method: str) -> None:
    pair = world["sofa"]
    object_id = {"queries": pair.query_id, "pins": pair.pin_id, "pairs": pair.id}[resource]
    response = getattr(api, method)(f"/api/v1/{resource}/{object_id}/", {}, format="json")
    assert response.status_code == 401
    assert Pair.objects.filter(id=pair.id).exists()


def test_anonymous_cannot_create(api: APIClient, world: dict[str, Pair]) -> None:
    response = api.post("/api/v1/queries/", {"text": "lamp", "language": "en"}, format="json")
    assert response.status_code == 401
    assert not Query.objects.filter(text="lamp").exists()


def test_token_endpoint_issues_a_token_that_authenticates(api: APIClient, engineer: User) -> None:
    response = api.post("/api/v1/auth/token", {"username": "erin", "password": "pw-erin"}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=engineer).key

    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/pairs/").status_code == 200


def test_token_endpoint_refuses_a_wrong_password(api: APIClient, engineer: User) -> None:
    response = api.post("/api/v1/auth/token", {"username": "erin", "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert not Token.objects.filter(user=engineer).exists()


def test_an_unknown_token_is_refused(api: APIClient, world: dict[str, Pair]) -> None:
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert api.get("/api/v1/pairs/").status_code == 401


def test_session_auth_works(client: Any, reviewer: User, world: dict[str, Pair]) -> None:
    client.force_login(reviewer)
    response = client.get("/api/v1/pairs/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 4


def test_session_writes_need_the_csrf_token(reviewer: User, engineer: User, world: dict[str, Pair]) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(engineer)
    response = browser.post("/api/v1/queries/", {"text": "lamp", "language": "en"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.parametrize(
    ("who", "status"),
    [("alice", 403), ("bob", 403), ("outsider", 403), ("reviewer", 200), ("engineer", 200)],
)
@pytest.mark.parametrize("resource", ["queries", "pins", "pairs"])
def test_who_may_read(
    api: APIClient, world: dict[str, Pair], request: pytest.FixtureRequest, who: str, status: int, resource: str
) -> None:
    api.force_authenticate(request.getfixturevalue(who))
    pair = world["sofa"]
    object_id = {"queries": pair.query_id, "pins": pair.pin_id, "pairs": pair.id}[resource]
    assert api.get(f"/api/v1/{resource}/").status_code == status
    assert api.get(f"/api/v1/{resource}/{object_id}/").status_code == status


@pytest.mark.parametrize("who", ["alice", "outsider", "reviewer"])
def test_only_engineers_write(api: APIClient, world: dict[str, Pair], request: pytest.FixtureRequest, who: str) -> None:
    api.force_authenticate(request.getfixturevalue(who))
    pair = world["boots"]
    new = {"query_id": "q-sofa", "pin_id": "p-mesa", "pool": "human"}
    assert api.post("/api/v1/pairs/", new, format="json").status_code == 403
    assert api.patch(f"/api/v1/pairs/{pair.id}/", {"label": 4}, format="json").status_code == 403
    assert api.delete(f"/api/v1/pairs/{pair.id}/").status_code == 403
    assert api.delete(f"/api/v1/queries/{pair.query_id}/").status_code == 403
    pair.refresh_from_db()
    assert pair.label is None
    assert Pair.objects.count() == 4


def test_engineer_creates_a_pair_by_external_ids(api: APIClient, engineer: User, world: dict[str, Pair]) -> None:
    api.force_authenticate(engineer)
    new = {"query_id": "q-sofa", "pin_id": "p-mesa", "pool": "evaluation", "label": 2, "split": "val"}
    response = api.post("/api/v1/pairs/", new, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    pair = Pair.objects.get(id=body["id"])
    assert (pair.query.external_id, pair.pin.external_id) == ("q-sofa", "p-mesa")
    assert (pair.pool, pair.label, pair.split) == (Pool.EVALUATION, 2, Split.VAL)
    assert body["query"] == {
        "id": pair.query_id,
        "external_id": "q-sofa",
        "text": "green velvet sofa",
        "language": "en",
    }
    assert body["pin"]["external_id"] == "p-mesa"
    assert "query_id" not in body


@pytest.mark.parametrize(
    ("payload", "bad_field"),
    [
        ({"query_id": "q-nope", "pin_id": "p-mesa"}, "query_id"),
        ({"query_id": "q-sofa", "pin_id": "p-nope"}, "pin_id"),
        ({"query_id": "q-sofa", "pin_id": "p-mesa", "label": 6}, "label"),
        ({"query_id": "q-sofa", "pin_id": "p-mesa", "pool": "elsewhere"}, "pool"),
        ({"query_id": "q-sofa", "pin_id": "p-sofa"}, "non_field_errors"),
    ],
)
def test_invalid_pairs_are_refused(
    api: APIClient, engineer: User, world: dict[str, Pair], payload: dict[str, Any], bad_field: str
) -> None:
    api.force_authenticate(engineer)
    response = api.post("/api/v1/pairs/", payload, format="json")
    assert response.status_code == 400
    assert bad_field in response.json()
    assert Pair.objects.count() == 4


def test_engineer_updates_and_deletes_a_pair(api: APIClient, engineer: User, world: dict[str, Pair]) -> None:
    api.force_authenticate(engineer)
    pair = world["boots"]
    response = api.patch(f"/api/v1/pairs/{pair.id}/", {"label": 4, "split": "test"}, format="json")
    assert response.status_code == 200
    pair.refresh_from_db()
    assert (pair.label, pair.split) == (4, Split.TEST)
    assert api.delete(f"/api/v1/pairs/{pair.id}/").status_code == 204
    assert not Pair.objects.filter(id=pair.id).exists()


def test_a_query_without_external_id_gets_a_derived_one(api: APIClient, engineer: User, db: None) -> None:
    api.force_authenticate(engineer)
    response = api.post("/api/v1/queries/", {"text": "reading lamp", "language": "en"}, format="json")
    assert response.status_code == 201
    assert response.json()["external_id"] == derived_query_id("reading lamp", "en")

    again = api.post("/api/v1/queries/", {"text": "reading lamp", "language": "en"}, format="json")
    assert again.status_code == 400
    assert Query.objects.count() == 1


def test_engineer_creates_a_pin_with_lists(api: APIClient, engineer: User, db: None) -> None:
    api.force_authenticate(engineer)
    new = {"external_id": "p-lamp", "title": "Brass lamp", "board_titles": ["Lighting", "Study"]}
    response = api.post("/api/v1/pins/", new, format="json")
    assert response.status_code == 201
    assert Pin.objects.get(external_id="p-lamp").board_titles == ["Lighting", "Study"]


def test_retrieve_by_database_id_exposes_external_ids(api: APIClient, reviewer: User, world: dict[str, Pair]) -> None:
    api.force_authenticate(reviewer)
    pair = world["sofa"]
    body = api.get(f"/api/v1/pairs/{pair.id}/").json()
    assert body["id"] == pair.id
    assert body["query"]["external_id"] == "q-sofa"
    assert body["pin"] == {
        "id": pair.pin_id,
        "external_id": "p-sofa",
        "title": "Emerald velvet couch",
        "image_src": "https://img.example/sofa.jpg",
        "language": "",
    }
    assert (body["label"], body["split"], body["pool"]) == (5, "train", "human")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"sofa", "sofa_boots", "boots", "mesa"}),
        ({"language": "es"}, {"mesa"}),
        ({"language": "en"}, {"sofa", "sofa_boots", "boots"}),
        ({"pool": "unlabeled"}, {"mesa"}),
        ({"pool": "human", "labeled": "false"}, {"boots"}),
        ({"labeled": "true"}, {"sofa", "sofa_boots"}),
        ({"labeled": "false"}, {"boots", "mesa"}),
        ({"split": "test"}, {"sofa_boots"}),
        ({"query_id": "q-sofa"}, {"sofa", "sofa_boots"}),
        ({"pin_id": "p-boots"}, {"sofa_boots", "boots"}),
        ({"search": "BOOTS"}, {"sofa_boots", "boots"}),
        ({"search": "velvet", "labeled": "true"}, {"sofa", "sofa_boots"}),
        ({"search": "roble"}, {"mesa"}),
        ({"query_id": "q-unknown"}, set()),
    ],
)
def test_pair_filters(
    api: APIClient, reviewer: User, world: dict[str, Pair], params: dict[str, str], expected: set[str]
) -> None:
    api.force_authenticate(reviewer)
    response = api.get("/api/v1/pairs/", params)
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {world[name].id for name in expected}


@pytest.mark.parametrize("params", [{"pool": "elsewhere"}, {"labeled": "maybe"}, {"split": "holdout"}])
def test_bad_filter_values_are_a_400(
    api: APIClient, reviewer: User, world: dict[str, Pair], params: dict[str, str]
) -> None:
    api.force_authenticate(reviewer)
    response = api.get("/api/v1/pairs/", params)
    assert response.status_code == 400
    assert set(params) <= set(response.json())


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/api/v1/queries/?language=es", {"q-mesa"}),
        ("/api/v1/queries/?search=SOFA", {"q-sofa"}),
        ("/api/v1/queries/?external_id=q-boots", {"q-boots"}),
        ("/api/v1/pins/?language=es", {"p-mesa"}),
        ("/api/v1/pins/?search=trail", {"p-boots"}),
        ("/api/v1/pins/?external_id=p-sofa", {"p-sofa"}),
    ],
)
def test_query_and_pin_filters(
    api: APIClient, reviewer: User, world: dict[str, Pair], url: str, expected: set[str]
) -> None:
    api.force_authenticate(reviewer)
    rows = api.get(url).json()["results"]
    assert {row["external_id"] for row in rows} == expected


def test_pages_follow_by_cursor(api: APIClient, reviewer: User, world: dict[str, Pair]) -> None:
    api.force_authenticate(reviewer)
    first = api.get("/api/v1/pairs/", {"page_size": 3}).json()
    assert len(first["results"]) == 3
    second = api.get(first["next"]).json()
    assert [row["id"] for row in first["results"] + second["results"]] == sorted(p.id for p in world.values())
    assert second["next"] is None


def test_pair_page_queries_do_not_grow_with_rows(
    api: APIClient, engineer: User, django_assert_max_num_queries: Any
) -> None:
    for i in range(40):
        make_pair(make_query(f"q-{i}", f"query {i}"), make_pin(f"p-{i}", f"pin {i}"))
    token = Token.objects.create(user=engineer)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    # token + user, role check, one page of pairs joined to queries and pins.
    with django_assert_max_num_queries(3):
        response = api.get("/api/v1/pairs/")
    assert len(response.json()["results"]) == 40

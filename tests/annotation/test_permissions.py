"""Who may open what (issue 3, point 5), in one table per surface.

The world: Alice and Bob annotate campaign "mine"; only Bob is a member of "theirs"; the
outsider has an account and no role; the reviewer and the engineer are staff.
There are no dashboards yet: when they arrive (issue 4) they add their own rows here.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from annotation.models import Campaign, Judgment
from tests.factories import make_campaign, make_pairs

ADMIN_LOGIN = "/admin/login/"
SITE_LOGIN = "/accounts/login/"


@pytest.fixture
def world(request: pytest.FixtureRequest, alice: User, bob: User) -> dict[str, Any]:
    mine = make_campaign(make_pairs(2, prefix="m"), [alice, bob], name="mine")
    theirs = make_campaign(make_pairs(2, prefix="t"), [bob], name="theirs")
    mine_pair, theirs_pair = mine.pairs.first(), theirs.pairs.first()
    Judgment.objects.create(pair=mine_pair, annotator=alice, campaign=mine, level=4, seconds_spent=3)
    Judgment.objects.create(pair=mine_pair, annotator=bob, campaign=mine, level=2, seconds_spent=5)
    bobs = Judgment.objects.create(pair=theirs_pair, annotator=bob, campaign=theirs, level=1, seconds_spent=8)
    ids = {"mine": mine.pk, "theirs": theirs.pk, "pair": theirs_pair.pk, "bob_judgment": bobs.pk}
    return {"ids": ids, "names": {alice.pk: "alice", bob.pk: "bob"}, "request": request}


def _client(world: dict[str, Any], who: str | None) -> Client:
    """A client logged in as a user of the fixture world (made only when a test asks for them)."""
    client = Client()
    if who is not None:
        client.force_login(world["request"].getfixturevalue(who))
    return client


def _call(world: dict[str, Any], who: str | None, method: str, url: str, query: dict[str, Any] | None = None) -> Any:
    client, url = _client(world, who), url.format(**world["ids"])
    if method == "post":
        return client.post(url, {}, content_type="application/json")
    return client.get(url, query or {})


ADMIN_URLS = [
    "/admin/",
    "/admin/annotation/pair/",
    "/admin/annotation/judgment/",
    "/admin/annotation/judgment/{bob_judgment}/change/",
    "/admin/annotation/campaign/",
    "/admin/annotation/campaign/create/",
    "/admin/annotation/import/",
    "/admin/auth/user/",
]


@pytest.mark.parametrize("url", ADMIN_URLS)
@pytest.mark.parametrize("who", ["alice", "outsider", None])
def test_only_staff_reach_the_admin(world: dict[str, Any], who: str | None, url: str) -> None:
    response = _call(world, who, "get", url)
    assert response.status_code == 302
    assert response["Location"].startswith(ADMIN_LOGIN)


@pytest.mark.parametrize(
    ("who", "url", "status"),
    [
        ("reviewer", "/admin/annotation/judgment/", 200),
        ("reviewer", "/admin/annotation/judgment/{bob_judgment}/change/", 200),
        ("reviewer", "/admin/annotation/campaign/create/", 403),
        ("reviewer", "/admin/annotation/import/", 403),
        ("engineer", "/admin/annotation/judgment/", 200),
        ("engineer", "/admin/annotation/judgment/{bob_judgment}/change/", 200),
        ("engineer", "/admin/annotation/campaign/create/", 200),
    ],
)
def test_staff_in_the_admin(world: dict[str, Any], who: str, url: str, status: int) -> None:
    assert _call(world, who, "get", url).status_code == status


@pytest.mark.parametrize(
    ("who", "method", "url", "status"),
    [
        ("alice", "get", "/label/{mine}/", 200),  # the control: her own campaign opens
        ("alice", "get", "/label/{theirs}/", 403),
        ("alice", "get", "/label/{theirs}/next/", 403),
        ("alice", "post", "/label/{theirs}/judge/", 403),
        ("alice", "post", "/label/{theirs}/undo/", 403),
        ("outsider", "get", "/label/{mine}/", 403),
        ("bob", "get", "/label/{theirs}/", 200),
    ],
)
def test_labeling_pages_are_for_members(world: dict[str, Any], who: str, method: str, url: str, status: int) -> None:
    assert _call(world, who, method, url).status_code == status


def test_campaign_list_page_shows_only_my_campaigns(world: dict[str, Any]) -> None:
    html = _call(world, "alice", "get", "/label/").content.decode()
    assert "mine" in html
    assert "theirs" not in html


@pytest.mark.parametrize("url", ["/", "/label/", "/label/{mine}/", "/label/{theirs}/next/"])
def test_anonymous_pages_redirect_to_login(world: dict[str, Any], url: str) -> None:
    response = _call(world, None, "get", url)
    assert response.status_code == 302
    assert response["Location"].startswith(SITE_LOGIN)


@pytest.mark.parametrize(
    ("who", "method", "url", "status"),
    [
        ("alice", "post", "/api/v1/campaigns/{mine}/next", 200),  # the control
        ("alice", "post", "/api/v1/campaigns/{theirs}/next", 404),
        ("alice", "post", "/api/v1/campaigns/{theirs}/undo", 404),
        ("outsider", "post", "/api/v1/campaigns/{mine}/next", 404),
        ("alice", "get", "/api/v1/pairs/", 403),
        ("alice", "get", "/api/v1/pairs/{pair}/", 403),
        ("alice", "get", "/api/v1/queries/", 403),
        ("alice", "get", "/api/v1/pins/", 403),
        ("alice", "get", "/api/v1/export", 403),
        ("alice", "post", "/api/v1/import", 403),
        ("outsider", "get", "/api/v1/pairs/", 403),
        ("outsider", "get", "/api/v1/export", 403),
        ("reviewer", "get", "/api/v1/pairs/", 200),
        ("reviewer", "get", "/api/v1/export", 200),
        ("reviewer", "post", "/api/v1/import", 403),
        ("engineer", "get", "/api/v1/pairs/", 200),
        ("engineer", "post", "/api/v1/import", 400),  # allowed in; the empty body is refused
        (None, "get", "/api/v1/campaigns/", 401),
        (None, "post", "/api/v1/campaigns/{mine}/next", 401),
        (None, "get", "/api/v1/judgments/", 401),
        (None, "post", "/api/v1/judgments/", 401),
        (None, "get", "/api/v1/pairs/", 401),
        (None, "get", "/api/v1/export", 401),
        (None, "post", "/api/v1/import", 401),
    ],
)
def test_api_access(world: dict[str, Any], who: str | None, method: str, url: str, status: int) -> None:
    assert _call(world, who, method, url).status_code == status


@pytest.mark.parametrize(
    ("who", "query", "annotators"),
    [
        ("alice", {}, ["alice"]),
        ("alice", {"annotator": "{bob}"}, []),  # asking for Bob's still shows only her own
        ("alice", {"campaign": "{theirs}"}, []),
        ("bob", {}, ["bob", "bob"]),
        ("outsider", {}, []),
        ("reviewer", {}, ["alice", "bob", "bob"]),
        ("reviewer", {"annotator": "{bob}"}, ["bob", "bob"]),
        ("engineer", {}, ["alice", "bob", "bob"]),
        ("engineer", {"campaign": "{theirs}"}, ["bob"]),
    ],
)
def test_judgment_list_shows_own_judgments_to_annotators_and_all_to_staff(
    world: dict[str, Any], who: str, query: dict[str, str], annotators: list[str]
) -> None:
    names = world["names"]
    ids = {**world["ids"], **{name: pk for pk, name in names.items()}}
    params = {key: value.format(**ids) for key, value in query.items()}
    response = _call(world, who, "get", "/api/v1/judgments/", params)
    assert response.status_code == 200
    assert sorted(names[row["annotator"]] for row in response.json()["results"]) == annotators


@pytest.mark.parametrize(
    ("who", "names"),
    [("alice", ["mine"]), ("bob", ["mine", "theirs"]), ("outsider", []), ("reviewer", ["mine", "theirs"])],
)
def test_campaign_api_lists_member_campaigns_to_annotators(world: dict[str, Any], who: str, names: list[str]) -> None:
    rows = _call(world, who, "get", "/api/v1/campaigns/").json()["results"]
    assert sorted(row["name"] for row in rows) == names
    assert Campaign.objects.count() == 2

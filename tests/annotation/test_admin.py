from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from annotation.models import (
    Campaign,
    CampaignPair,
    Guideline,
    GuidelineLevel,
    Judgment,
    Lease,
    Pair,
    Pin,
    Pool,
    Query,
    SkipReason,
)


def make_pair(query_text: str, pin_title: str, image_url: str = "", **fields: Any) -> Pair:
    """A pair shaped like the ESCI demo rows: external ids, product titles, mostly no image."""
    n = Pair.objects.count()
    query = Query.objects.get_or_create(
        external_id=f"esci-us-q{query_text}", defaults={"text": query_text, "language": "en"}
    )[0]
    pin = Pin.objects.create(external_id=f"esci-us-P{n}", title=pin_title, image_url=image_url)
    return Pair.objects.create(query=query, pin=pin, **fields)


@pytest.fixture
def demo_pairs(db: None) -> list[Pair]:
    return [
        make_pair("mama koala", "Mama Koala Cloth Diapers, 6 Pack", "https://img.example/koala.jpg", label=5),
        make_pair("mama koala", "Koala plush toy", label=3),
        make_pair("hiking boots waterproof", "Trail Runner Boot", pool=Pool.UNLABELED),
    ]


@pytest.fixture
def campaign(demo_pairs: list[Pair]) -> Campaign:
    guideline = Guideline.objects.create(name="Default", version=1, introduction="Grade each pair.")
    GuidelineLevel.objects.create(guideline=guideline, level=5, title="Highly relevant", definition="Exactly it.")
    campaign = Campaign.objects.create(name="ESCI demo", guideline=guideline)
    for position, pair in enumerate(demo_pairs):
        CampaignPair.objects.create(campaign=campaign, pair=pair, position=position)
    return campaign


def test_engineer_sees_pairs_with_query_text_and_thumbnails(
    client: Client, engineer: User, demo_pairs: list[Pair]
) -> None:
    client.force_login(engineer)
    response = client.get("/admin/annotation/pair/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "mama koala" in html
    assert "hiking boots waterproof" in html
    assert "Mama Koala Cloth Diapers, 6 Pack" in html
    assert '<img class="pin-thumb" src="https://img.example/koala.jpg"' in html
    assert 'loading="lazy"' in html
    assert html.count("pin-thumb--empty") == 2
    assert "annotation/admin.css" in html


def test_pair_list_shows_an_import_link_to_engineers(client: Client, engineer: User, demo_pairs: list[Pair]) -> None:
    client.force_login(engineer)
    html = client.get("/admin/annotation/pair/").content.decode()
    assert f'href="{reverse("admin:annotation_import")}"' in html
    assert "Import pairs" in html


def test_import_page_is_wired_into_the_admin(client: Client, engineer: User, db: None) -> None:
    assert reverse("admin:annotation_import") == "/admin/annotation/import/"
    client.force_login(engineer)
    response = client.get("/admin/annotation/import/")
    assert response.status_code == 200
    assert "Import pairs" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "shown", "hidden"),
    [
        ({"q": "hiking"}, "Trail Runner Boot", "Koala plush toy"),
        ({"pool__exact": "unlabeled"}, "Trail Runner Boot", "Koala plush toy"),
        ({"label__exact": "3"}, "Koala plush toy", "Trail Runner Boot"),
    ],
)
def test_pair_list_search_and_filters(
    client: Client, engineer: User, demo_pairs: list[Pair], params: dict[str, str], shown: str, hidden: str
) -> None:
    client.force_login(engineer)
    html = client.get("/admin/annotation/pair/", params).content.decode()
    assert shown in html
    assert hidden not in html


def test_pair_list_filters_by_query_language(client: Client, engineer: User, demo_pairs: list[Pair]) -> None:
    spanish = Pair.objects.create(
        query=Query.objects.create(external_id="esci-es-1", text="botas de montaña", language="es"),
        pin=demo_pairs[2].pin,
    )
    client.force_login(engineer)
    response = client.get("/admin/annotation/pair/", {"query__language": "es"})
    assert list(response.context["cl"].result_list) == [spanish]


def test_pair_list_queries_do_not_grow_with_rows(
    client: Client, engineer: User, db: None, django_assert_max_num_queries: Any
) -> None:
    for i in range(30):
        make_pair(f"query {i}", f"pin {i}")
    client.force_login(engineer)
    # Session, user, permissions (2), one count, one page joined to queries and pins, language choices.
    with django_assert_max_num_queries(7) as captured:
        response = client.get("/admin/annotation/pair/", {"q": "query"})
    assert response.content.decode().count('class="pin-thumb') == 30
    # Only the filtered count: no second COUNT over every pair for "N of M".
    assert sum("COUNT(" in query["sql"] for query in captured.captured_queries) == 1


def test_pin_change_page_shows_a_preview(client: Client, engineer: User, demo_pairs: list[Pair]) -> None:
    client.force_login(engineer)
    with_image, without_image = demo_pairs[0].pin, demo_pairs[1].pin
    html = client.get(f"/admin/annotation/pin/{with_image.pk}/change/").content.decode()
    assert 'src="https://img.example/koala.jpg" alt="" width="240"' in html
    html = client.get(f"/admin/annotation/pin/{without_image.pk}/change/").content.decode()
    assert 'class="pin-thumb pin-thumb--empty" style="width:240px;height:240px"' in html


def test_reviewer_can_view_but_not_change(client: Client, reviewer: User, demo_pairs: list[Pair]) -> None:
    client.force_login(reviewer)
    pair = demo_pairs[1]
    listing = client.get("/admin/annotation/pair/")
    assert listing.status_code == 200
    assert "Koala plush toy" in listing.content.decode()
    assert "Import pairs" not in listing.content.decode()

    change_url = f"/admin/annotation/pair/{pair.pk}/change/"
    page = client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert (
        client.post(change_url, {"query": pair.query_id, "pin": pair.pin_id, "pool": "human", "label": 1}).status_code
        == 403
    )
    assert client.get("/admin/annotation/pair/add/").status_code == 403
    assert client.post(f"/admin/annotation/pair/{pair.pk}/delete/", {"post": "yes"}).status_code == 403
    pair.refresh_from_db()
    assert pair.label == 3


def test_reviewer_may_not_import(client: Client, reviewer: User, db: None) -> None:
    client.force_login(reviewer)
    assert client.get("/admin/annotation/import/").status_code == 403


@pytest.mark.parametrize("url", ["/admin/", "/admin/annotation/pair/", "/admin/annotation/import/"])
@pytest.mark.parametrize("who", ["alice", "outsider", None])
def test_non_staff_are_sent_to_the_admin_login(
    client: Client, request: pytest.FixtureRequest, demo_pairs: list[Pair], url: str, who: str | None
) -> None:
    if who:
        client.force_login(request.getfixturevalue(who))
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_engineer_changes_a_pair(client: Client, engineer: User, demo_pairs: list[Pair]) -> None:
    client.force_login(engineer)
    pair = demo_pairs[1]
    form = {"query": pair.query_id, "pin": pair.pin_id, "pool": "evaluation", "label": "2", "split": "test"}
    form["engagement"] = "{}"
    response = client.post(f"/admin/annotation/pair/{pair.pk}/change/", form)
    assert response.status_code == 302
    pair.refresh_from_db()
    assert (pair.pool, pair.label, pair.split) == ("evaluation", 2, "test")


def test_campaign_page_links_to_its_pairs(client: Client, engineer: User, campaign: Campaign) -> None:
    client.force_login(engineer)
    html = client.get(f"/admin/annotation/campaign/{campaign.pk}/change/").content.decode()
    assert f'href="/admin/annotation/campaignpair/?campaign__id__exact={campaign.pk}">3 pairs</a>' in html
    listing = client.get("/admin/annotation/campaignpair/", {"campaign__id__exact": campaign.pk})
    assert listing.content.decode().count("mama koala") == 2


def test_guideline_page_inlines_its_levels(client: Client, engineer: User, campaign: Campaign) -> None:
    client.force_login(engineer)
    html = client.get(f"/admin/annotation/guideline/{campaign.guideline_id}/change/").content.decode()
    assert "Exactly it." in html
    assert 'name="levels-TOTAL_FORMS" value="1"' in html


def test_judgment_list_shows_grade_or_skip(
    client: Client, engineer: User, alice: User, bob: User, campaign: Campaign
) -> None:
    pair = campaign.pairs.first()
    Judgment.objects.create(pair=pair, annotator=alice, campaign=campaign, level=4, seconds_spent=12.5)
    Judgment.objects.create(pair=pair, annotator=bob, campaign=campaign, skip_reason=SkipReason.IMAGE)
    client.force_login(engineer)
    html = client.get("/admin/annotation/judgment/").content.decode()
    assert "4 — Relevant" in html
    assert "Skipped: Can&#x27;t load image" in html
    assert "12.5" in html
    assert "ESCI demo" in html
    filtered = client.get("/admin/annotation/judgment/", {"skip_reason__exact": "image"})
    assert [j.annotator for j in filtered.context["cl"].result_list] == [bob]


@pytest.mark.parametrize(
    "model", ["query", "pin", "pair", "guideline", "campaign", "campaignpair", "lease", "judgment"]
)
def test_every_annotation_page_loads_for_engineers(
    client: Client, engineer: User, alice: User, campaign: Campaign, model: str
) -> None:
    campaign_pair = campaign.campaign_pairs.first()
    Lease.objects.create(campaign_pair=campaign_pair, annotator=alice, expires_at=timezone.now() + timedelta(minutes=5))
    Judgment.objects.create(pair=campaign_pair.pair, annotator=alice, campaign=campaign, level=5)
    client.force_login(engineer)
    listing = client.get(f"/admin/annotation/{model}/")
    assert listing.status_code == 200
    first = listing.context["cl"].result_list[0]
    assert client.get(f"/admin/annotation/{model}/{first.pk}/change/").status_code == 200


def test_leases_are_read_only(client: Client, engineer: User, alice: User, campaign: Campaign) -> None:
    lease = Lease.objects.create(
        campaign_pair=campaign.campaign_pairs.first(), annotator=alice, expires_at=timezone.now()
    )
    client.force_login(engineer)
    assert client.get("/admin/annotation/lease/add/").status_code == 403
    assert 'name="_save"' not in client.get(f"/admin/annotation/lease/{lease.pk}/change/").content.decode()


def test_tokens_have_an_admin_page(client: Client, engineer: User, db: None) -> None:
    token = Token.objects.create(user=engineer)
    admin_user = User.objects.create_superuser("root", password="pw-root")
    client.force_login(admin_user)
    html = client.get("/admin/authtoken/tokenproxy/").content.decode()
    assert token.key in html


@pytest.mark.parametrize("model", ["query", "pin", "pair", "guideline", "campaign", "campaignpair", "judgment"])
def test_add_pages_load_for_engineers(client: Client, engineer: User, model: str) -> None:
    client.force_login(engineer)
    response = client.get(f"/admin/annotation/{model}/add/")
    assert response.status_code == 200
    assert 'name="_save"' in response.content.decode()

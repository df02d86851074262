from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from annotation import queue
from annotation.models import Campaign, CampaignPair, Judgment, Lease, Pair
from tests.factories import make_campaign, make_pairs

TOKEN = re.compile(r'data-token="([0-9a-f-]{36})"')


def page_url(campaign: Campaign, name: str = "labeling_page") -> str:
    return reverse(f"annotation:{name}", args=[campaign.pk])


def tokens_on(html: str) -> list[str]:
    return TOKEN.findall(html)


@pytest.fixture
def campaign(alice: User, bob: User) -> Campaign:
    return make_campaign(make_pairs(6), [alice, bob], n=2)


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


def open_page(client: Client, campaign: Campaign) -> tuple[str, str]:
    """The tokens of the card on screen and of the prefetched one."""
    response = client.get(page_url(campaign))
    assert response.status_code == 200
    current, upcoming = tokens_on(response.content.decode())
    return current, upcoming


def grade(client: Client, campaign: Campaign, token: str, showing: str = "", **fields: object):
    data = {"token": token, "showing": showing, "seconds_spent": 2.5, **fields}
    return client.post(page_url(campaign, "submit_judgment"), data)


def test_campaign_list_shows_only_my_campaigns_with_progress(alice_client: Client, campaign: Campaign, bob) -> None:
    make_campaign(make_pairs(2, prefix="x"), [bob], name="Bob only")
    html = alice_client.get(reverse("annotation:campaign_list")).content.decode()
    assert campaign.name in html
    assert "Bob only" not in html
    assert "0 / 12 graded" in html
    assert page_url(campaign) in html


def test_page_shows_current_and_prefetched_pairs_on_distinct_leases(
    alice_client: Client, campaign: Campaign, alice
) -> None:
    current, upcoming = open_page(alice_client, campaign)
    assert current != upcoming
    assert set(Lease.objects.filter(annotator=alice).values_list("token", flat=True)) == {
        uuid.UUID(current),
        uuid.UUID(upcoming),
    }
    # A reload shows the same two pairs, in the same order.
    assert open_page(alice_client, campaign) == (current, upcoming)


def test_page_shows_query_pin_text_and_the_guideline(alice_client: Client, campaign: Campaign) -> None:
    pair = Pair.objects.get(campaign_pairs__campaign=campaign, campaign_pairs__position=0)
    pair.pin.description = "word " * 100
    pair.pin.board_titles = ["Cakes board"]
    pair.pin.save()
    html = alice_client.get(page_url(campaign)).content.decode()
    assert pair.query.text in html
    assert "Cakes board" in html
    assert 'data-action="more"' in html  # the long description is collapsed
    assert "This Pin has no image" in html
    for level in campaign.guideline.levels.all():
        assert level.title in html
    assert "red velvet armchair" in html  # an example pair of level 2


def test_grade_stores_judgment_and_answers_next_card_with_progress(
    alice_client: Client, campaign: Campaign, alice
) -> None:
    current, upcoming = open_page(alice_client, campaign)
    response = grade(alice_client, campaign, current, showing=upcoming, level=4)
    assert response.status_code == 200
    html = response.content.decode()
    (prefetched,) = tokens_on(html)
    assert prefetched not in (current, upcoming)
    assert "1 / 12 graded" in html
    assert "today: 1" in html
    judgment = Judgment.objects.get(annotator=alice)
    assert (judgment.level, judgment.seconds_spent, judgment.token) == (4, 2.5, uuid.UUID(current))


def test_posting_the_same_token_twice_makes_one_judgment(alice_client: Client, campaign: Campaign, alice) -> None:
    current, upcoming = open_page(alice_client, campaign)
    first = grade(alice_client, campaign, current, showing=upcoming, level=5)
    again = grade(alice_client, campaign, current, showing=upcoming, level=5)
    assert (first.status_code, again.status_code) == (200, 200)
    assert Judgment.objects.filter(annotator=alice).count() == 1
    # The retry brings the same prefetched pair, not yet another lease.
    assert tokens_on(first.content.decode()) == tokens_on(again.content.decode())
    assert CampaignPair.objects.get(pair=Judgment.objects.get().pair).graded_count == 1


def test_skip_with_reason_and_note(alice_client: Client, campaign: Campaign, alice) -> None:
    current, upcoming = open_page(alice_client, campaign)
    response = grade(alice_client, campaign, current, showing=upcoming, skip_reason="other", skip_note="blurry text")
    assert response.status_code == 200
    judgment = Judgment.objects.get(annotator=alice)
    assert (judgment.level, judgment.skip_reason, judgment.skip_note) == (None, "other", "blurry text")


@pytest.mark.parametrize(
    "fields",
    [{}, {"level": 4, "skip_reason": "unsure"}, {"level": 7}, {"skip_reason": "other"}, {"skip_reason": "bored"}],
)
def test_invalid_submissions_are_refused(alice_client: Client, campaign: Campaign, fields: dict) -> None:
    current, upcoming = open_page(alice_client, campaign)
    assert grade(alice_client, campaign, current, showing=upcoming, **fields).status_code == 400
    assert not Judgment.objects.exists()


def test_unknown_token_gives_a_notice_and_a_card(alice_client: Client, campaign: Campaign) -> None:
    current, upcoming = open_page(alice_client, campaign)
    response = grade(alice_client, campaign, str(uuid.uuid4()), showing=current, level=3)
    assert response.status_code == 409
    html = response.content.decode()
    assert 'data-role="notice"' in html
    assert tokens_on(html) == [upcoming]
    assert not Judgment.objects.exists()


def test_late_grade_on_a_completed_pair_is_refused_with_a_notice(
    alice_client: Client, campaign: Campaign, alice, bob
) -> None:
    current, upcoming = open_page(alice_client, campaign)
    lease = Lease.objects.get(token=current)
    campaign_pair = lease.campaign_pair
    Lease.objects.filter(pk=lease.pk).update(expires_at=lease.created_at)  # Alice's time ran out
    CampaignPair.objects.filter(pk=campaign_pair.pk).update(graded_count=campaign.judgments_per_pair)
    response = grade(alice_client, campaign, current, showing=upcoming, level=3)
    assert response.status_code == 409
    assert "completed" in response.content.decode()
    assert not Judgment.objects.filter(annotator=alice).exists()


def test_undo_returns_the_last_pair_with_its_token(alice_client: Client, campaign: Campaign, alice) -> None:
    current, upcoming = open_page(alice_client, campaign)
    grade(alice_client, campaign, current, showing=upcoming, level=2)
    response = alice_client.post(page_url(campaign, "undo"))
    assert response.status_code == 200
    html = response.content.decode()
    assert tokens_on(html) == [current]
    assert "0 / 12 graded" in html
    assert not Judgment.objects.filter(annotator=alice).exists()
    grade(alice_client, campaign, current, showing=upcoming, level=3)
    assert Judgment.objects.get(annotator=alice).level == 3


def test_undo_with_nothing_to_undo_is_a_notice(alice_client: Client, campaign: Campaign) -> None:
    response = alice_client.post(page_url(campaign, "undo"))
    assert response.status_code == 409
    assert "Nothing to undo" in response.content.decode()


def test_all_done_state(alice_client: Client, alice, bob) -> None:
    campaign = make_campaign(make_pairs(1), [alice], n=1)
    html = alice_client.get(page_url(campaign)).content.decode()
    (current,) = tokens_on(html)
    assert "All done" in html  # the prefetched slot already knows nothing follows
    response = grade(alice_client, campaign, current, level=5)
    assert "All done" in response.content.decode()
    assert "All done" in alice_client.get(page_url(campaign)).content.decode()
    assert not tokens_on(alice_client.get(page_url(campaign)).content.decode())


def test_prefetch_endpoint_excludes_the_card_on_screen(alice_client: Client, campaign: Campaign) -> None:
    current, upcoming = open_page(alice_client, campaign)
    html = alice_client.get(page_url(campaign, "prefetch"), {"showing": current}).content.decode()
    assert tokens_on(html) == [upcoming]


def test_page_never_shows_other_grades_labels_engagement_or_gold(alice_client: Client, alice, bob) -> None:
    pairs = make_pairs(2, label=5)
    Pair.objects.filter(pk=pairs[0].pk).update(engagement={"ctr": 0.123456})
    campaign = make_campaign(pairs, [alice, bob], n=3, gold={pairs[1].pk: 4}, gold_rate=1.0)
    lease = queue.next_lease(campaign, bob)
    queue.submit(bob, lease.token, level=1, seconds_spent=1)  # Bob grades the gold pair
    html = alice_client.get(page_url(campaign)).content.decode()
    cards = html.split('id="current-slot"')[1].split('class="actions"')[0]
    assert len(tokens_on(cards)) == 2  # the gold pair Bob graded and the other one
    assert "bob" not in html.lower()
    for leak in ("Highly", "—", "0.123456", "ctr", "gold", "label", "score", "rank"):
        assert leak.lower() not in cards.lower(), leak


@pytest.mark.parametrize("name", ["labeling_page", "prefetch", "submit_judgment", "undo"])
def test_non_member_gets_403(client: Client, campaign: Campaign, outsider, name: str) -> None:
    client.force_login(outsider)
    response = (
        client.post(page_url(campaign, name))
        if name in ("submit_judgment", "undo")
        else client.get(page_url(campaign, name))
    )
    assert response.status_code == 403


def test_non_member_cannot_submit_with_a_stolen_token(client: Client, campaign: Campaign, alice, outsider) -> None:
    lease = queue.next_lease(campaign, alice)
    client.force_login(outsider)
    assert grade(client, campaign, str(lease.token), level=1).status_code == 403
    assert not Judgment.objects.exists()


@pytest.mark.parametrize("name", ["campaign_list", "labeling_page", "prefetch", "submit_judgment", "undo"])
def test_anonymous_is_sent_to_login(client: Client, campaign: Campaign, name: str) -> None:
    url = reverse("annotation:campaign_list") if name == "campaign_list" else page_url(campaign, name)
    response = client.post(url) if name in ("submit_judgment", "undo") else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_inactive_campaign_is_not_found(alice_client: Client, campaign: Campaign) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(is_active=False)
    assert alice_client.get(page_url(campaign)).status_code == 404

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Page, Route, expect

from annotation.models import Campaign, Judgment, Pair, Pin
from tests.browser.conftest import log_in
from tests.factories import make_campaign, make_pairs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CURRENT = "#current-slot .pair-card"
UPCOMING = "#next-slot .pair-card"
PAUSE_MS = 150  # a person looks at a pair for a moment; seconds_spent must see it


def svg_image(colour: str, label: str) -> str:
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="800" height="1000">'
        f'<rect width="800" height="1000" fill="{colour}"/>'
        f'<circle cx="400" cy="470" r="230" fill="#fff" fill-opacity=".35"/>'
        f'<text x="400" y="900" font-size="56" text-anchor="middle" fill="#fff" font-family="sans-serif">{label}</text>'
        "</svg>"
    )
    return "data:image/svg+xml;utf8," + quote(svg)


def make_world(alice: User) -> tuple[Campaign, list[Pair]]:
    """Six pairs for Alice alone (N = 1): the 2nd has a broken image, the 3rd none."""
    pairs = make_pairs(6, label=5)
    images = [svg_image("#b03a48", "red velvet"), "http://127.0.0.1:9/missing.jpg", ""] + [
        svg_image(c, f"pin {i}") for i, c in enumerate(("#4a7c59", "#375a7f", "#8e6c8a"), start=3)
    ]
    for pair, image in zip(pairs, images, strict=True):
        Pin.objects.filter(pk=pair.pin_id).update(image_url=image)
    Pin.objects.filter(pk=pairs[0].pin_id).update(
        title="Classic red velvet layer cake with cream-cheese frosting",
        description="A tall three-layer red velvet cake. " * 20,
        caption="A sliced red cake with white frosting on a cake stand",
        link_title="The best red velvet cake recipe",
        board_titles=["Cakes", "Birthday baking"],
        engaged_queries=["red velvet cake", "cream cheese frosting"],
    )
    pairs[0].query.text = "red velvet cake"
    pairs[0].query.save()
    return make_campaign(pairs, [alice], n=1, name="Cakes and more"), pairs


def token(page: Page, selector: str) -> str:
    return page.locator(selector).get_attribute("data-token") or ""


def settle(page: Page) -> None:
    """Wait until every grade and undo the page sent has been answered."""
    page.wait_for_function("!document.querySelector('[data-labeling]').classList.contains('is-saving')")


def press_and_check_instant_swap(page: Page, key: str) -> str:
    """Press a grade key; the prefetched card must be on screen before the server answers."""
    page.wait_for_timeout(PAUSE_MS)
    graded, upcoming = token(page, CURRENT), token(page, UPCOMING)
    page.keyboard.press(key)
    assert token(page, CURRENT) == upcoming
    settle(page)
    return graded


def test_annotator_grades_undoes_and_skips_with_the_keyboard(page: Page, alice: User, tmp_path: Path) -> None:
    campaign, pairs = make_world(alice)
    url = reverse("annotation:labeling_page", args=[campaign.pk])
    log_in(page, "alice", "pw-alice", next_url=reverse("annotation:campaign_list"))
    page.click("text=Start labeling")
    page.wait_for_url(f"**{url}")
    expect(page.locator(CURRENT)).to_contain_text("red velvet cake")
    expect(page.locator(f"{CURRENT} .pin-image img")).to_be_visible()
    page.screenshot(path=str(tmp_path / "labeling.png"))

    # The guideline toggles with g, the key list opens with ?.
    expect(page.locator("#guideline-panel")).to_be_visible()
    page.keyboard.press("g")
    expect(page.locator("#guideline-panel")).to_be_hidden()
    page.keyboard.press("g")
    expect(page.locator("#guideline-panel")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#keys-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#keys-dialog")).to_be_hidden()

    graded = []
    for level in "12345":
        graded.append(press_and_check_instant_swap(page, level))
        if level == "1":  # the 2nd pair's image fails to load: a placeholder says so
            expect(page.locator(f"{CURRENT} .pin-image .placeholder")).to_contain_text("failed to load")
        if level == "2":
            expect(page.locator(f"{CURRENT} .pin-image .placeholder")).to_contain_text("no image")
    token_of_pair = {str(Judgment.objects.get(token=t).pair_id): t for t in graded}
    assert len(token_of_pair) == 5
    expect(page.locator("[data-role=campaign-progress]")).to_have_text("5 / 6 graded")

    # u brings the fifth pair back, with its lease token; the pair that was on screen waits behind it.
    on_screen = token(page, CURRENT)
    page.keyboard.press("u")
    settle(page)
    assert token(page, CURRENT) == graded[4]
    assert token(page, UPCOMING) == on_screen
    expect(page.locator("[data-role=campaign-progress]")).to_have_text("4 / 6 graded")

    # s opens the skip dialog; Esc cancels it; keys typed in the note do not grade.
    page.keyboard.press("s")
    expect(page.locator("#skip-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#skip-dialog")).to_be_hidden()
    page.wait_for_timeout(PAUSE_MS)
    page.keyboard.press("s")
    page.keyboard.press("4")  # Other
    expect(page.locator("#skip-note")).to_be_focused()
    page.keyboard.type("text is 1 2 3 u s g")
    expect(page.locator("#skip-dialog")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#skip-dialog")).to_be_hidden()
    assert token(page, CURRENT) == on_screen
    settle(page)

    # The last pair; then nothing is left.
    press_and_check_instant_swap(page, "3")
    expect(page.locator("#current-slot")).to_contain_text("All done")
    expect(page.locator("[data-role=campaign-progress]")).to_have_text("5 / 6 graded")
    expect(page.locator("[data-role=today]")).to_have_text("today: 6")

    rows = list(Judgment.objects.filter(annotator=alice).order_by("pair_id"))
    assert [row.pair_id for row in rows] == [pair.pk for pair in pairs]  # every pair once, none twice
    assert [row.level for row in rows] == [1, 2, 3, 4, None, 3]
    skipped = rows[4]
    assert (skipped.skip_reason, skipped.skip_note) == ("other", "text is 1 2 3 u s g")
    assert str(skipped.token) == graded[4]
    assert all(row.seconds_spent >= PAUSE_MS / 1000 for row in rows)
    assert all(row.campaign_id == campaign.pk for row in rows)


def test_a_grade_whose_answer_is_lost_is_retried_once_and_stored_once(page: Page, alice: User) -> None:
    campaign, pairs = make_world(alice)
    posted: list[str] = []

    def lose_first_answer(route: Route) -> None:
        posted.append(route.request.post_data or "")
        if len(posted) > 1:
            route.continue_()
            return
        route.fetch()  # the server stores the grade …
        route.abort("connectionreset")  # … but the browser never hears back

    page.route("**/judge/", lose_first_answer)
    log_in(page, "alice", "pw-alice", next_url=reverse("annotation:labeling_page", args=[campaign.pk]))
    first = press_and_check_instant_swap(page, "4")
    press_and_check_instant_swap(page, "2")
    # The lost post went out again by itself, then the second grade: three posts, no error shown.
    assert [f"token={first}" in body for body in posted] == [True, True, False]
    expect(page.locator("#notice")).not_to_have_class(re.compile("is-shown"))
    rows = list(Judgment.objects.filter(annotator=alice).order_by("pair_id"))
    assert [(row.pair_id, row.level) for row in rows] == [(pairs[0].pk, 4), (pairs[1].pk, 2)]
    expect(page.locator("[data-role=campaign-progress]")).to_have_text("2 / 6 graded")
    assert token(page, UPCOMING)  # the retried answer brought the next prefetched pair

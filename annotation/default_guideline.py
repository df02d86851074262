"""The guideline every new installation starts with: grading Pins, images first, then text."""

from __future__ import annotations

from django.db import transaction

from annotation.models import Guideline, GuidelineLevel

NAME = "Pin relevance"
VERSION = 1

INTRODUCTION = (
    "You will see a search query and one Pin. Decide how well the Pin answers what the searcher "
    "was looking for. Look at the image first: on a visual platform the image is what people "
    "judge at a glance, and it is what the Pin is really about. Then read the text (title, "
    "description, caption, link and boards) to settle what the image alone leaves open — the exact "
    "product, a size, a recipe's ingredient, a language. Judge the intent of the query, not its "
    "exact words: a Pin can match every word and still miss the point, or use none of them and be "
    "exactly right. When the image and the text disagree, trust the image. If the image does not "
    'load, grade from the text only if it is unambiguous; otherwise skip with "can\'t load image". '
    'If the query is in a language you cannot read, skip with "foreign language" rather than guess.'
)

LEVELS: list[dict[str, object]] = [
    {
        "level": 5,
        "title": "Highly relevant",
        "definition": (
            "Exactly what the searcher wants: the image shows the thing, style or idea the query asks "
            "for, with every stated detail (colour, material, occasion, quantity) satisfied. A searcher "
            "would save or click this Pin."
        ),
        "examples": [
            {
                "query": "red velvet cake",
                "pin": "Photo of a sliced red velvet cake with cream-cheese frosting; recipe in the description",
                "why": "The image and the recipe both match every word and the intent.",
            },
            {
                "query": "boho living room",
                "pin": "A living room with rattan chairs, macramé and plants, board 'Boho home'",
                "why": "The whole image is the requested style.",
            },
        ],
    },
    {
        "level": 4,
        "title": "Relevant",
        "definition": (
            "Answers the query well but misses a minor stated detail, or is a close substitute that "
            "would still satisfy most searchers (a different shade, a similar product, a variant recipe)."
        ),
        "examples": [
            {
                "query": "red velvet cake",
                "pin": "Red velvet cupcakes with cream-cheese frosting",
                "why": "Same flavour and intent, a different form.",
            },
            {
                "query": "navy blue wedding dress",
                "pin": "A dark teal wedding dress",
                "why": "Right item, colour a little off.",
            },
        ],
    },
    {
        "level": 3,
        "title": "Marginally relevant / complementary",
        "definition": (
            "Related to the query but not what was asked for: an accessory or complement to the thing, "
            "the right topic with the wrong focus, or a Pin where the match is only in the text and the "
            "image shows something broader."
        ),
        "examples": [
            {
                "query": "red velvet cake",
                "pin": "A cake stand with a glass dome",
                "why": "Useful with the cake, but not the cake.",
            },
            {
                "query": "hiking boots women",
                "pin": "Wool hiking socks",
                "why": "Complements the query, does not answer it.",
            },
        ],
    },
    {
        "level": 2,
        "title": "Irrelevant",
        "definition": (
            "Does not answer the query. Shares a word or a loose theme at most (a keyword in the "
            "description, the same colour) but a searcher would not want it."
        ),
        "examples": [
            {
                "query": "red velvet cake",
                "pin": "A red velvet armchair",
                "why": "Shares words, not the intent.",
            },
            {
                "query": "python tutorial",
                "pin": "Photo of a snake in a terrarium",
                "why": "Wrong meaning of the query.",
            },
        ],
    },
    {
        "level": 1,
        "title": "Highly irrelevant",
        "definition": (
            "Nothing to do with the query, or unacceptable to show for it: spam, broken or misleading "
            "content, or something offensive or unsafe in the context of the query."
        ),
        "examples": [
            {
                "query": "red velvet cake",
                "pin": "A screenshot of a car insurance advert",
                "why": "Unrelated and spammy.",
            },
            {
                "query": "kids birthday party ideas",
                "pin": "An image with adult content",
                "why": "Unsafe for the query's context.",
            },
        ],
    },
]


@transaction.atomic
def install_default_guideline() -> Guideline:
    """Create version 1 of the default guideline unless it exists; return it either way."""
    guideline, created = Guideline.objects.get_or_create(
        name=NAME, version=VERSION, defaults={"introduction": INTRODUCTION}
    )
    if created:
        GuidelineLevel.objects.bulk_create(GuidelineLevel(guideline=guideline, **level) for level in LEVELS)
    return guideline

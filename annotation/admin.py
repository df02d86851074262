"""Admin pages for engineers (who change things) and reviewers (who only look).

Pair, pin and judgment tables may hold millions of rows: foreign keys use raw id inputs,
list pages skip the unfiltered count, and related rows are fetched in the same query.
The import page is wired in by `relevance_site.admin_site`.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from annotation.models import (
    Campaign,
    CampaignPair,
    Guideline,
    GuidelineLevel,
    Judgment,
    Lease,
    Pair,
    Pin,
    Query,
)

THUMBNAIL_PX = 48
PREVIEW_PX = 240
_ADMIN_CSS = {"all": ["annotation/admin.css"]}


def pin_image(pin: Pin, size: int) -> SafeString:
    """A lazy-loaded square <img> of the pin, or a grey placeholder box of the same size."""
    if not pin.image_src:
        return format_html(
            '<span class="pin-thumb pin-thumb--empty" style="width:{}px;height:{}px" title="No image"></span>',
            size,
            size,
        )
    # no-referrer: remote image hosts need not learn admin URLs.
    return format_html(
        '<img class="pin-thumb" src="{}" alt="" width="{}" height="{}" loading="lazy" referrerpolicy="no-referrer">',
        pin.image_src,
        size,
        size,
    )


def _short(text: str, chars: int = 80) -> str:
    return Truncator(text).chars(chars)


@admin.register(Query)
class QueryAdmin(admin.ModelAdmin):
    list_display = ["external_id", "short_text", "language", "country", "created_at"]
    list_filter = ["language"]
    search_fields = ["text", "=external_id"]
    readonly_fields = ["created_at"]
    show_full_result_count = False

    @admin.display(description="Text", ordering="text")
    def short_text(self, query: Query) -> str:
        return _short(query.text)


@admin.register(Pin)
class PinAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "external_id", "short_title", "language", "created_at"]
    list_display_links = ["thumbnail", "external_id"]
    list_filter = ["language"]
    search_fields = ["title", "=external_id"]
    readonly_fields = ["image_preview", "created_at"]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["external_id", "title", "description", "language", "created_at"]}),
        ("Image", {"fields": ["image_preview", "image_url", "image"]}),
        (
            "Other text",
            {"fields": ["caption", "link_title", "link_description", "board_titles", "engaged_queries"]},
        ),
    ]

    class Media:
        css = _ADMIN_CSS

    @admin.display(description="Image")
    def thumbnail(self, pin: Pin) -> SafeString:
        return pin_image(pin, THUMBNAIL_PX)

    @admin.display(description="Preview")
    def image_preview(self, pin: Pin) -> SafeString:
        return pin_image(pin, PREVIEW_PX)

    @admin.display(description="Title", ordering="title")
    def short_title(self, pin: Pin) -> str:
        return _short(pin.title)


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["id", "query_text", "thumbnail", "pin_title", "language", "pool", "label", "split"]
    list_display_links = ["id", "query_text"]
    list_select_related = ["query", "pin"]
    list_filter = ["pool", "label", "split", "query__language"]
    search_fields = ["query__text", "pin__title", "=query__external_id", "=pin__external_id"]
    raw_id_fields = ["query", "pin"]
    readonly_fields = ["pin_preview", "created_at"]
    show_full_result_count = False
    list_per_page = 50

    class Media:
        css = _ADMIN_CSS

    @admin.display(description="Query", ordering="query__text")
    def query_text(self, pair: Pair) -> str:
        return _short(pair.query.text)

    @admin.display(description="Pin", ordering="pin__title")
    def pin_title(self, pair: Pair) -> str:
        return _short(pair.pin.title or pair.pin.external_id)

    @admin.display(description="Image")
    def thumbnail(self, pair: Pair) -> SafeString:
        return pin_image(pair.pin, THUMBNAIL_PX)

    @admin.display(description="Pin image")
    def pin_preview(self, pair: Pair) -> SafeString:
        return pin_image(pair.pin, PREVIEW_PX)

    @admin.display(description="Language", ordering="query__language")
    def language(self, pair: Pair) -> str:
        return pair.query.language


class GuidelineLevelInline(admin.StackedInline):
    model = GuidelineLevel
    extra = 0
    max_num = 5


@admin.register(Guideline)
class GuidelineAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]
    inlines = [GuidelineLevelInline]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "guideline", "judgments_per_pair", "gold_rate", "lease_seconds", "is_active"]
    list_filter = ["is_active", "guideline"]
    list_select_related = ["guideline"]
    search_fields = ["name"]
    filter_horizontal = ["members"]
    readonly_fields = ["campaign_pairs_link", "created_at"]

    # Campaign pairs are listed on their own (paginated) page: an inline would render
    # one form per pair, and a campaign may hold hundreds of thousands.
    @admin.display(description="Pairs")
    def campaign_pairs_link(self, campaign: Campaign) -> SafeString:
        if campaign.pk is None:
            return format_html("{}", "Add pairs after saving the campaign.")
        url = reverse("admin:annotation_campaignpair_changelist")
        count = campaign.campaign_pairs.count()
        return format_html('<a href="{}?campaign__id__exact={}">{} pairs</a>', url, campaign.pk, count)


@admin.register(CampaignPair)
class CampaignPairAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "query_text", "pin_title", "position", "is_gold", "gold_level", "graded_count"]
    list_select_related = ["campaign", "pair__query", "pair__pin"]
    list_filter = ["campaign", "is_gold"]
    search_fields = ["pair__query__text", "=pair__query__external_id", "=pair__pin__external_id"]
    raw_id_fields = ["campaign", "pair"]
    readonly_fields = ["graded_count"]
    show_full_result_count = False

    @admin.display(description="Query", ordering="pair__query__text")
    def query_text(self, campaign_pair: CampaignPair) -> str:
        return _short(campaign_pair.pair.query.text)

    @admin.display(description="Pin")
    def pin_title(self, campaign_pair: CampaignPair) -> str:
        pin = campaign_pair.pair.pin
        return _short(pin.title or pin.external_id)


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    """Leases are written by the labeling queue; the admin only shows them."""

    list_display = ["token", "annotator", "campaign_pair", "created_at", "expires_at"]
    list_select_related = ["annotator", "campaign_pair"]
    list_filter = ["campaign_pair__campaign"]
    raw_id_fields = ["campaign_pair", "annotator"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Lease | None = None) -> bool:
        return False


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "query_text",
        "annotator",
        "grade",
        "seconds_spent",
        "campaign",
        "guideline",
        "created_at",
    ]
    list_select_related = ["pair__query", "annotator", "campaign", "guideline"]
    list_filter = ["campaign", "level", "skip_reason", "annotator", "guideline"]
    search_fields = ["pair__query__text", "=pair__query__external_id", "annotator__username"]
    raw_id_fields = ["pair", "annotator"]
    readonly_fields = ["created_at"]
    show_full_result_count = False

    @admin.display(description="Query", ordering="pair__query__text")
    def query_text(self, judgment: Judgment) -> str:
        return _short(judgment.pair.query.text)

    @admin.display(description="Grade or skip", ordering="level")
    def grade(self, judgment: Judgment) -> str:
        if judgment.level is not None:
            return judgment.get_level_display()
        return f"Skipped: {judgment.get_skip_reason_display()}"

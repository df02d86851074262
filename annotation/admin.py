"""Admin pages for engineers (who change things) and reviewers (who only look).

Pair, pin and judgment tables may hold millions of rows: foreign keys use raw id inputs,
list pages skip the unfiltered count, and related rows are fetched in the same query.
The import page is wired in by `relevance_site.admin_site`; the "create a campaign from
pairs" page is a URL of the Campaign admin, and the Pair list's action opens the same page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from annotation.campaigns import (
    CampaignError,
    campaign_progress,
    create_campaign,
    pairs_matching,
    select_queries,
    with_progress,
)
from annotation.models import (
    Adjudication,
    AnnotatorStanding,
    Campaign,
    CampaignPair,
    Guideline,
    GuidelineLevel,
    Judgment,
    Lease,
    Pair,
    Pin,
    Pool,
    QualitySnapshot,
    Query,
)
from annotation.roles import ANNOTATOR, is_engineer

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


# Creating a campaign from pairs ---------------------------------------------------------

CREATE_CAMPAIGN_TEMPLATE = "admin/annotation/campaign_create.html"
_LABELED = {"": None, "yes": True, "no": False}


class PairFilterForm(forms.Form):
    """Which pairs a new campaign takes: filters on top of all pairs (or of a Pair-list selection)."""

    languages = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, help_text="Language of the query; none ticked: all."
    )
    pools = forms.MultipleChoiceField(
        choices=Pool.choices, required=False, widget=forms.CheckboxSelectMultiple, help_text="None ticked: all."
    )
    labeled = forms.ChoiceField(
        choices=[("", "With or without a label"), ("yes", "Only pairs with a label"), ("no", "Only pairs without")],
        required=False,
    )
    query_sample = forms.IntegerField(
        min_value=1, required=False, help_text="Take every pair of this many random queries. Blank: every query."
    )
    seed = forms.IntegerField(min_value=0, initial=0, required=False, help_text="Same seed, same sample and order.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        languages = Query.objects.order_by("language").values_list("language", flat=True).distinct()
        self.fields["languages"].choices = [(code, code) for code in languages]

    def pairs(self, base: QuerySet[Pair]) -> QuerySet[Pair]:
        data = self.cleaned_data
        return pairs_matching(base, languages=data["languages"], pools=data["pools"], labeled=_LABELED[data["labeled"]])

    def sampling(self) -> dict[str, Any]:
        """`query_sample` and `seed` keyword arguments for the campaigns module."""
        return {"query_sample": self.cleaned_data["query_sample"], "seed": self.cleaned_data["seed"] or 0}


class CampaignSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    guideline = forms.ModelChoiceField(Guideline.objects.all(), help_text="The guideline version annotators see.")
    judgments_per_pair = forms.IntegerField(min_value=1, max_value=100, initial=3, label="Judgments per pair (N)")
    gold_rate = forms.FloatField(
        min_value=0, max_value=1, initial=0.0, help_text="Share of served pairs that are gold, 0–1."
    )
    gold_from_labels = forms.BooleanField(
        required=False, help_text="Selected pairs with an imported label become gold pairs (needs a gold rate above 0)."
    )
    lease_seconds = forms.IntegerField(min_value=1, initial=300, help_text="How long a served pair stays reserved.")
    members = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(), required=False, widget=FilteredSelectMultiple("members", is_stacked=False)
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        annotators = User.objects.filter(is_active=True, groups__name=ANNOTATOR).order_by("username")
        self.fields["members"].queryset = annotators
        self.fields["guideline"].initial = Guideline.objects.order_by("-created_at", "-pk").first()


def _carried_fields(request: HttpRequest, action: str) -> list[tuple[str, str]]:
    """Hidden fields that make the page's own POST reach the Pair-list action again, same selection."""
    selected = [(ACTION_CHECKBOX_NAME, pk) for pk in request.POST.getlist(ACTION_CHECKBOX_NAME)]
    return [("action", action), ("select_across", request.POST.get("select_across", "0")), *selected]


def _create(
    request: HttpRequest, campaign_form: CampaignSettingsForm, pairs: QuerySet[Pair], sampling: dict[str, Any]
) -> HttpResponse | None:
    """Create the campaign and redirect to it, or leave the reasons on the form and return None."""
    if not campaign_form.is_valid():
        return None
    try:
        campaign = create_campaign(pairs=pairs, **campaign_form.cleaned_data, **sampling)
    except CampaignError as error:
        campaign_form.add_error(error.field if error.field in campaign_form.fields else None, str(error))
        return None
    count = campaign.campaign_pairs.count()
    messages.success(request, f"Created campaign “{campaign.name}” with {count} pairs.")
    return redirect("admin:annotation_campaign_change", campaign.pk)


def create_campaign_page(
    request: HttpRequest, base: QuerySet[Pair] | None = None, carried: list[tuple[str, str]] | None = None
) -> HttpResponse:
    """Engineers pick pairs by filter (on top of `base`, a Pair-list selection), preview the count, create."""
    if not is_engineer(request.user):
        raise PermissionDenied("Only engineers may create campaigns.")
    submitted = request.method == "POST" and ("_preview" in request.POST or "_create" in request.POST)
    filters = PairFilterForm(request.POST if submitted else None)
    campaign_form = CampaignSettingsForm(request.POST if submitted else None)
    creating = submitted and "_create" in request.POST
    context: dict[str, Any] = {
        "filters": filters,
        "campaign_form": campaign_form,
        "creating": creating,
        "carried": carried,
    }
    if base is not None:
        context["base_count"] = base.count()
    if submitted and filters.is_valid():
        pairs = filters.pairs(base if base is not None else Pair.objects.all())
        created = _create(request, campaign_form, pairs, filters.sampling()) if creating else None
        if created is not None:
            return created
        context["selection"] = select_queries(pairs, **filters.sampling())
    context.update(admin.site.each_context(request), title="Create a campaign from pairs", media=campaign_form.media)
    return render(request, CREATE_CAMPAIGN_TEMPLATE, context, status=400 if creating else 200)


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
    actions = ["create_campaign_from_pairs"]

    class Media:
        css = _ADMIN_CSS

    # A cached permission check (not a group query), so the list page costs no extra query.
    def has_create_campaign_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("annotation.add_campaign")

    @admin.action(description="Create a campaign from the selected pairs", permissions=["create_campaign"])
    def create_campaign_from_pairs(self, request: HttpRequest, queryset: QuerySet[Pair]) -> HttpResponse:
        carried = _carried_fields(request, "create_campaign_from_pairs")
        return create_campaign_page(request, base=queryset, carried=carried)

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


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def _progress_rows(progress: dict[str, Any]) -> list[tuple[str, str]]:
    median = progress["median_seconds"]
    return [
        ("Pairs", f"{progress['pairs']} ({progress['gold_pairs']} gold)"),
        ("Complete pairs", f"{progress['complete_pairs']} of {progress['pairs'] - progress['gold_pairs']}"),
        (
            "Graded judgments",
            f"{progress['graded']} / {progress['target']} ({_percent(progress['graded'], progress['target'])}%)",
        ),
        ("Skips", str(progress["skips"])),
        ("Active leases", str(progress["active_leases"])),
        ("Judgments today", str(progress["judgments_today"])),
        ("Median seconds per judgment", "—" if median is None else f"{median:.1f}"),
    ]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "guideline",
        "graded_bar",
        "complete",
        "member_count",
        "judgments_per_pair",
        "gold_rate",
        "lease_seconds",
        "is_active",
    ]
    list_filter = ["is_active", "guideline"]
    list_select_related = ["guideline"]
    search_fields = ["name"]
    filter_horizontal = ["members"]
    readonly_fields = ["progress_panel", "campaign_pairs_link", "created_at"]
    fieldsets = [
        (None, {"fields": ["name", "description", "guideline", "is_active"]}),
        ("Judging", {"fields": ["judgments_per_pair", "gold_rate", "gold_threshold", "lease_seconds", "members"]}),
        ("Progress", {"fields": ["progress_panel", "campaign_pairs_link", "created_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        campaigns = super().get_queryset(request)
        # Only the list has progress columns; the change page computes its own panel.
        match = request.resolver_match
        if match is not None and match.url_name == "annotation_campaign_changelist":
            return with_progress(campaigns)
        return campaigns

    def get_urls(self) -> list[URLPattern]:
        create = path("create/", self.admin_site.admin_view(create_campaign_page), name="annotation_campaign_create")
        # Before the model's own patterns, which would read "create" as an object id.
        return [create, *super().get_urls()]

    @admin.display(description="Graded / target", ordering="graded_total")
    def graded_bar(self, campaign: Campaign) -> SafeString:
        graded, target = campaign.graded_total, campaign.target_total
        return format_html(
            '<progress value="{}" max="{}"></progress> {} / {} ({}%)',
            graded,
            max(target, 1),
            graded,
            target,
            _percent(graded, target),
        )

    @admin.display(description="Complete pairs", ordering="complete_total")
    def complete(self, campaign: Campaign) -> str:
        return f"{campaign.complete_total} / {campaign.pair_total}"

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, campaign: Campaign) -> int:
        return campaign.member_total

    @admin.display(description="Progress")
    def progress_panel(self, campaign: Campaign) -> SafeString:
        if campaign.pk is None:
            return format_html("{}", "Shown once the campaign exists.")
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", _progress_rows(campaign_progress(campaign)))
        return format_html('<table class="campaign-progress">{}</table>', rows)

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


@admin.register(Adjudication)
class AdjudicationAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign_pair", "level", "reviewer", "created_at", "reason_short"]
    list_select_related = ["campaign_pair__campaign", "reviewer"]
    list_filter = ["campaign_pair__campaign", "level", "reviewer"]
    search_fields = ["reason", "reviewer__username"]
    raw_id_fields = ["campaign_pair", "reviewer"]
    readonly_fields = ["created_at"]
    show_full_result_count = False

    @admin.display(description="Reason")
    def reason_short(self, decision: Adjudication) -> str:
        return _short(decision.reason)


@admin.register(AnnotatorStanding)
class AnnotatorStandingAdmin(admin.ModelAdmin):
    """Gold accuracy per annotator and campaign; engineers pause a flagged annotator here."""

    list_display = ["annotator", "campaign", "gold_judged", "gold_exact", "gold_within_one", "flagged", "paused"]
    list_editable = ["paused"]
    list_filter = ["flagged", "paused", "campaign"]
    list_select_related = ["annotator", "campaign"]
    search_fields = ["annotator__username"]
    readonly_fields = ["campaign", "annotator", "gold_judged", "gold_exact", "gold_within_one", "flagged", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(QualitySnapshot)
class QualitySnapshotAdmin(admin.ModelAdmin):
    list_display = ["campaign", "computed_at", "judgment_count"]
    list_filter = ["campaign"]
    readonly_fields = ["campaign", "computed_at", "judgment_count", "data"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# Dataset admin and the Campaign action that freezes one (needs CampaignAdmin above).
from annotation import admin_datasets  # noqa: F401,E402

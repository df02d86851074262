"""Admin for frozen datasets (view-only) and the Campaign action that freezes one.

Imported at the bottom of `annotation.admin`, after CampaignAdmin exists, and adds its action
to CampaignAdmin from here so that the campaign admin needs only that import line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from annotation.admin import CampaignAdmin
from annotation.datasets import SPLITS, DatasetError, counts_table, freeze_dataset, parse_fractions
from annotation.exporting import EXPORT_FORMATS
from annotation.models import Campaign, Dataset, DatasetItem

FREEZE_TEMPLATE = "admin/annotation/dataset_freeze.html"


# Freezing from the Campaign list --------------------------------------------------------


class FreezeForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Unique; a frozen dataset never changes.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    seed = forms.IntegerField(initial=0, min_value=-(2**31), max_value=2**31 - 1, help_text="Same seed, same split.")
    fractions = forms.CharField(initial="0.8,0.1,0.1", help_text="train,val,test shares, summing to 1")
    include_imported = forms.BooleanField(
        required=False,
        label="Also include imported labels",
        help_text="Labels imported with the pairs, of every pair (not only these campaigns'); campaign labels win.",
    )

    def clean_fractions(self) -> dict[str, float]:
        try:
            return parse_fractions(self.cleaned_data["fractions"])
        except DatasetError as error:
            raise forms.ValidationError(str(error)) from None


def _has_freeze_dataset_permission(self: admin.ModelAdmin, request: HttpRequest) -> bool:
    # Freezing adds a dataset; a cached permission check, not a group query.
    return request.user.has_perm("annotation.add_dataset")


@admin.action(description="Freeze a dataset from the selected campaigns", permissions=["freeze_dataset"])
def freeze_from_campaigns(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Campaign]
) -> HttpResponse | None:
    """First call: a form (name, seed, fractions). Its submission (`apply`) freezes and opens the dataset."""
    form = FreezeForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        try:
            dataset = _freeze(form.cleaned_data, list(queryset), request)
        except DatasetError as error:
            form.add_error(None, str(error))
        else:
            modeladmin.message_user(request, _frozen_message(dataset), messages.SUCCESS)
            return redirect("admin:annotation_dataset_change", dataset.pk)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Freeze a dataset",
        "opts": modeladmin.model._meta,
        "form": form,
        "campaigns": queryset,
        "action": "freeze_from_campaigns",
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, FREEZE_TEMPLATE, context)


def _freeze(data: dict[str, Any], campaigns: list[Campaign], request: HttpRequest) -> Dataset:
    return freeze_dataset(
        data["name"],
        campaigns=campaigns,
        include_imported=data["include_imported"],
        seed=data["seed"],
        fractions=data["fractions"],
        created_by=request.user,
        description=data["description"],
    )


def _frozen_message(dataset: Dataset) -> str:
    splits = ", ".join(f"{dataset.counts['split'][split]} {split}" for split in SPLITS)
    return f"Froze dataset “{dataset.name}”: {dataset.counts['total']} pairs ({splits})."


CampaignAdmin.has_freeze_dataset_permission = _has_freeze_dataset_permission  # type: ignore[attr-defined]
CampaignAdmin.actions = [*(CampaignAdmin.actions or []), freeze_from_campaigns]


# Datasets and their items: view-only ---------------------------------------------------


def _referencing_relations(dataset: Dataset) -> list[str]:
    """Names of the models (other than its own items) with rows that point at `dataset`."""
    return [
        relation.related_model._meta.verbose_name_plural
        for relation in Dataset._meta.related_objects
        if relation.related_model is not DatasetItem
        and relation.related_model._default_manager.filter(**{relation.field.name: dataset}).exists()
    ]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """Datasets are made by freezing (command, Campaign action, API) and never change here."""

    list_display = ["name", "total", "split_summary", "seed", "created_by", "created_at"]
    list_select_related = ["created_by"]
    search_fields = ["name"]
    fields = [
        "name",
        "description",
        "seed",
        "split_fractions",
        "counts_panel",
        "items_link",
        "export_links",
        "created_by",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Dataset | None = None) -> bool:
        return False

    # A whole dataset may go only while nothing refers to it. No model version does yet;
    # once ModelVersion records its training/evaluation dataset, that relation shows up in
    # `_referencing_relations` and blocks the delete here (besides any PROTECT on the key).
    def has_delete_permission(self, request: HttpRequest, obj: Dataset | None = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or not _referencing_relations(obj))

    def get_deleted_objects(
        self, objs: Iterable[Dataset], request: HttpRequest
    ) -> tuple[list[str], dict[str, int], set[str], list[str]]:
        # Items go with their dataset (they may not be deleted one by one), and a dataset may
        # hold 100k+ of them: the confirmation page summarises rather than listing each item.
        datasets = list(objs)
        allowed = all(self.has_delete_permission(request, dataset) for dataset in datasets)
        items = DatasetItem.objects.filter(dataset__in=datasets).count()
        summary = [f"{dataset} ({self.total(dataset)} items)" for dataset in datasets]
        model_count = {Dataset._meta.verbose_name_plural: len(datasets), DatasetItem._meta.verbose_name_plural: items}
        return summary, model_count, set() if allowed else {str(Dataset._meta.verbose_name)}, []

    @admin.display(description="Pairs")
    def total(self, dataset: Dataset) -> int:
        return int(dataset.counts.get("total", 0))

    @admin.display(description="Train / val / test")
    def split_summary(self, dataset: Dataset) -> str:
        counted = dataset.counts.get("split", {})
        return " / ".join(str(counted.get(split, 0)) for split in SPLITS)

    @admin.display(description="Counts")
    def counts_panel(self, dataset: Dataset) -> SafeString:
        return format_html('<pre class="dataset-counts">{}</pre>', counts_table(dataset.counts))

    @admin.display(description="Items")
    def items_link(self, dataset: Dataset) -> SafeString:
        url = reverse("admin:annotation_datasetitem_changelist")
        return format_html('<a href="{}?dataset__id__exact={}">{} items</a>', url, dataset.pk, self.total(dataset))

    @admin.display(description="Export")
    def export_links(self, dataset: Dataset) -> SafeString:
        url = reverse("api-dataset-export", args=[dataset.pk])
        links = ((url, file_format, file_format.upper()) for file_format in EXPORT_FORMATS)
        return format_html_join(" · ", '<a href="{}?file_format={}">{}</a>', links)


@admin.register(DatasetItem)
class DatasetItemAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "query_text", "pin_title", "language", "level", "split", "source"]
    list_select_related = ["dataset", "pair__query", "pair__pin"]
    list_filter = ["dataset", "split", "source", "level"]
    search_fields = ["=pair__query__external_id", "=pair__pin__external_id", "pair__query__text"]
    raw_id_fields = ["dataset", "pair"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DatasetItem | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DatasetItem | None = None) -> bool:
        return False

    @admin.display(description="Query", ordering="pair__query__text")
    def query_text(self, item: DatasetItem) -> str:
        return Truncator(item.pair.query.text).chars(80)

    @admin.display(description="Pin")
    def pin_title(self, item: DatasetItem) -> str:
        return Truncator(item.pair.pin.title or item.pair.pin.external_id).chars(80)

    @admin.display(description="Language", ordering="pair__query__language")
    def language(self, item: DatasetItem) -> str:
        return item.pair.query.language

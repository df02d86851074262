"""REST resources for queries, pins and pairs: reviewers and engineers read, engineers write.

Objects are addressed by database id in URLs; external ids are exposed as fields and
used wherever a client refers to a query or pin it imported (`query_id`, `pin_id`).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.pagination import CursorPagination

from annotation.models import Pair, Pin, Pool, Query, Split, derived_query_id
from annotation.permissions import StaffReadsEngineerWrites

# Serializers ---------------------------------------------------------------------------


class QuerySerializer(serializers.ModelSerializer):
    class Meta:
        model = Query
        fields = ["id", "external_id", "text", "language", "country", "created_at"]
        extra_kwargs = {
            "external_id": {"required": False, "help_text": "Derived from text + language when omitted"},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and not attrs.get("external_id"):
            attrs["external_id"] = derived_query_id(attrs["text"], attrs["language"])
            if Query.objects.filter(external_id=attrs["external_id"]).exists():
                raise serializers.ValidationError(
                    {"external_id": f"This text and language already exist as query {attrs['external_id']}."}
                )
        return attrs


class _ImageSrcMixin(serializers.Serializer):
    image_src = serializers.SerializerMethodField()

    def get_image_src(self, pin: Pin) -> str:
        """Absolute URL of the uploaded image, else the remote image URL ('' when neither)."""
        src = pin.image_src
        request = self.context.get("request")
        if src.startswith("/") and request is not None:
            return request.build_absolute_uri(src)
        return src


class PinSerializer(_ImageSrcMixin, serializers.ModelSerializer):
    board_titles = serializers.ListField(child=serializers.CharField(), required=False)
    engaged_queries = serializers.ListField(child=serializers.CharField(), required=False)

    class Meta:
        model = Pin
        fields = [
            "id",
            "external_id",
            "title",
            "description",
            "image_url",
            "image_src",
            "caption",
            "link_title",
            "link_description",
            "board_titles",
            "engaged_queries",
            "language",
            "created_at",
        ]


class QuerySummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Query
        fields = ["id", "external_id", "text", "language"]


class PinSummarySerializer(_ImageSrcMixin, serializers.ModelSerializer):
    class Meta:
        model = Pin
        fields = ["id", "external_id", "title", "image_src", "language"]


class PairSerializer(serializers.ModelSerializer):
    query = QuerySummarySerializer(read_only=True)
    pin = PinSummarySerializer(read_only=True)
    # A text input, not a <select> of every query, in the browsable API.
    query_id = serializers.SlugRelatedField(
        source="query",
        slug_field="external_id",
        queryset=Query.objects.all(),
        write_only=True,
        style={"base_template": "input.html"},
        help_text="External id of the query",
    )
    pin_id = serializers.SlugRelatedField(
        source="pin",
        slug_field="external_id",
        queryset=Pin.objects.all(),
        write_only=True,
        style={"base_template": "input.html"},
        help_text="External id of the pin",
    )
    engagement = serializers.DictField(required=False, help_text="Optional engagement statistics")

    class Meta:
        model = Pair
        fields = ["id", "query", "pin", "query_id", "pin_id", "pool", "label", "split", "engagement", "created_at"]


# Filters (query parameters of the list endpoints) --------------------------------------


class QueryFilter(serializers.Serializer):
    language = serializers.CharField(required=False, help_text="ISO 639-1 code")
    external_id = serializers.CharField(required=False)
    search = serializers.CharField(required=False, help_text="Text contained in the query (any case)")


class PinFilter(serializers.Serializer):
    language = serializers.CharField(required=False, help_text="ISO 639-1 code")
    external_id = serializers.CharField(required=False)
    search = serializers.CharField(required=False, help_text="Text contained in the title or description")


class PairFilter(serializers.Serializer):
    language = serializers.CharField(required=False, help_text="Language of the query (ISO 639-1)")
    pool = serializers.ChoiceField(choices=Pool.choices, required=False)
    split = serializers.ChoiceField(choices=Split.choices, required=False)
    labeled = serializers.BooleanField(required=False, help_text="true: has a label; false: has none")
    query_id = serializers.CharField(required=False, help_text="External id of the query")
    pin_id = serializers.CharField(required=False, help_text="External id of the pin")
    search = serializers.CharField(required=False, help_text="Text in the query or the pin title")


def filter_queries(queries: QuerySet[Query], params: dict[str, Any]) -> QuerySet[Query]:
    if "language" in params:
        queries = queries.filter(language=params["language"])
    if "external_id" in params:
        queries = queries.filter(external_id=params["external_id"])
    if "search" in params:
        queries = queries.filter(text__icontains=params["search"])
    return queries


def filter_pins(pins: QuerySet[Pin], params: dict[str, Any]) -> QuerySet[Pin]:
    if "language" in params:
        pins = pins.filter(language=params["language"])
    if "external_id" in params:
        pins = pins.filter(external_id=params["external_id"])
    if "search" in params:
        text = params["search"]
        pins = pins.filter(Q(title__icontains=text) | Q(description__icontains=text))
    return pins


_PAIR_EXACT_FILTERS = {
    "language": "query__language",
    "pool": "pool",
    "split": "split",
    "query_id": "query__external_id",
    "pin_id": "pin__external_id",
}


def filter_pairs(pairs: QuerySet[Pair], params: dict[str, Any]) -> QuerySet[Pair]:
    exact = {lookup: params[name] for name, lookup in _PAIR_EXACT_FILTERS.items() if name in params}
    pairs = pairs.filter(**exact)
    if "labeled" in params:
        pairs = pairs.filter(label__isnull=not params["labeled"])
    if "search" in params:
        text = params["search"]
        pairs = pairs.filter(Q(query__text__icontains=text) | Q(pin__title__icontains=text))
    return pairs


# Views ---------------------------------------------------------------------------------


class IdCursorPagination(CursorPagination):
    """Pages by id: no COUNT over millions of rows, and stable while imports add rows."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class _FilteredModelViewSet(viewsets.ModelViewSet):
    permission_classes = [StaffReadsEngineerWrites]
    pagination_class = IdCursorPagination
    filter_class: type[serializers.Serializer]

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action != "list":
            return queryset
        # A plain dict, not the QueryDict: DRF reads a missing boolean in form data as false.
        params = self.filter_class(data=self.request.query_params.dict())
        params.is_valid(raise_exception=True)
        return self.apply_filters(queryset, params.validated_data)

    def apply_filters(self, queryset: QuerySet[Any], params: dict[str, Any]) -> QuerySet[Any]:
        raise NotImplementedError


@extend_schema_view(list=extend_schema(parameters=[QueryFilter]))
class QueryViewSet(_FilteredModelViewSet):
    queryset = Query.objects.all()
    serializer_class = QuerySerializer
    filter_class = QueryFilter

    def apply_filters(self, queryset: QuerySet[Query], params: dict[str, Any]) -> QuerySet[Query]:
        return filter_queries(queryset, params)


@extend_schema_view(list=extend_schema(parameters=[PinFilter]))
class PinViewSet(_FilteredModelViewSet):
    queryset = Pin.objects.all()
    serializer_class = PinSerializer
    filter_class = PinFilter

    def apply_filters(self, queryset: QuerySet[Pin], params: dict[str, Any]) -> QuerySet[Pin]:
        return filter_pins(queryset, params)


@extend_schema_view(list=extend_schema(parameters=[PairFilter]))
class PairViewSet(_FilteredModelViewSet):
    queryset = Pair.objects.select_related("query", "pin")
    serializer_class = PairSerializer
    filter_class = PairFilter

    def apply_filters(self, queryset: QuerySet[Pair], params: dict[str, Any]) -> QuerySet[Pair]:
        return filter_pairs(queryset, params)

"""API for judging: an annotator's campaigns, the next pair, submitting and undoing judgments.

The same queue functions serve the labeling page; annotators see only their own campaigns and
judgments, reviewers and engineers see everyone's.
"""

from __future__ import annotations

from django.http import Http404
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from annotation import queue
from annotation.models import Campaign, Judgment, Lease, Pair, Pin, Query, SkipReason
from annotation.roles import is_staff_role


class PinForJudgingSerializer(serializers.ModelSerializer):
    image = serializers.CharField(source="image_src")

    class Meta:
        model = Pin
        fields = [
            "external_id",
            "title",
            "description",
            "image",
            "caption",
            "link_title",
            "link_description",
            "board_titles",
            "engaged_queries",
        ]


class LeaseSerializer(serializers.ModelSerializer):
    """What an annotator needs to judge a pair — never other grades, labels or scores."""

    campaign = serializers.IntegerField(source="campaign_pair.campaign_id")
    pair = serializers.IntegerField(source="campaign_pair.pair_id")
    query = serializers.CharField(source="campaign_pair.pair.query.text")
    query_language = serializers.CharField(source="campaign_pair.pair.query.language")
    pin = PinForJudgingSerializer(source="campaign_pair.pair.pin")

    class Meta:
        model = Lease
        fields = ["token", "expires_at", "campaign", "pair", "query", "query_language", "pin"]


class NextRequestSerializer(serializers.Serializer):
    exclude = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)


class SubmitSerializer(serializers.Serializer):
    token = serializers.UUIDField()
    level = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
    skip_reason = serializers.ChoiceField(choices=SkipReason.choices, required=False, allow_blank=True, default="")
    skip_note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    seconds_spent = serializers.FloatField(min_value=0, required=False, default=0.0)

    def validate(self, data: dict) -> dict:
        if (data.get("level") is None) == (not data.get("skip_reason")):
            raise serializers.ValidationError("Give either a level from 1 to 5 or a skip reason.")
        return data


class JudgmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Judgment
        fields = [
            "id",
            "pair",
            "campaign",
            "annotator",
            "level",
            "skip_reason",
            "skip_note",
            "seconds_spent",
            "guideline",
            "token",
            "created_at",
        ]


class CampaignSerializer(serializers.ModelSerializer):
    class Meta:
        model = Campaign
        fields = ["id", "name", "description", "judgments_per_pair", "gold_rate", "lease_seconds", "guideline"]


_DATETIME = serializers.DateTimeField()
_PIN_FIELDS = PinForJudgingSerializer.Meta.fields


def _campaign(request: Request, campaign_id: int) -> Campaign:
    # Non-members get 404 rather than learning which campaigns exist.
    # The same rows as campaigns_for(user), in SQL: compiling the ORM query on every request costs more.
    sql = (
        f"SELECT c.* FROM {Campaign._meta.db_table} c WHERE c.id = %s AND c.is_active"
        f" AND EXISTS (SELECT 1 FROM {Campaign.members.through._meta.db_table} m"
        " WHERE m.campaign_id = c.id AND m.user_id = %s)"
    )
    campaign = next(iter(Campaign.objects.raw(sql, [campaign_id, request.user.pk])), None)
    if campaign is None:
        raise Http404("No Campaign matches the given query.")
    return campaign


def _lease_data(lease: Lease) -> dict[str, object]:
    """LeaseSerializer's output, built from one query for the pair's query and Pin.

    Serializing a lease through the nested ModelSerializers cost about as much CPU as taking it.
    """
    campaign_pair = lease.campaign_pair
    pair = Pair._meta.db_table
    sql = (
        f"SELECT p.*, q.text AS query_text, q.language AS query_language FROM {pair} r"
        f" JOIN {Pin._meta.db_table} p ON p.id = r.pin_id JOIN {Query._meta.db_table} q ON q.id = r.query_id"
        " WHERE r.id = %s"
    )
    pin = next(iter(Pin.objects.raw(sql, [campaign_pair.pair_id])))
    return {
        "token": str(lease.token),
        "expires_at": _DATETIME.to_representation(lease.expires_at),
        "campaign": campaign_pair.campaign_id,
        "pair": campaign_pair.pair_id,
        "query": pin.query_text,
        "query_language": pin.query_language,
        "pin": {name: pin.image_src if name == "image" else getattr(pin, name) for name in _PIN_FIELDS},
    }


def _lease_response(lease: Lease | None) -> Response:
    if lease is None:
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(_lease_data(lease))


def _judgment_data(judgment: Judgment) -> dict[str, object]:
    """JudgmentSerializer's output without building a ModelSerializer per response."""
    return {
        "id": judgment.pk,
        "pair": judgment.pair_id,
        "campaign": judgment.campaign_id,
        "annotator": judgment.annotator_id,
        "level": judgment.level,
        "skip_reason": judgment.skip_reason,
        "skip_note": judgment.skip_note,
        "seconds_spent": judgment.seconds_spent,
        "guideline": judgment.guideline_id,
        "token": None if judgment.token is None else str(judgment.token),
        "created_at": _DATETIME.to_representation(judgment.created_at),
    }


class CampaignList(ListAPIView):
    serializer_class = CampaignSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if is_staff_role(self.request.user):
            return Campaign.objects.all()
        return queue.campaigns_for(self.request.user)


@extend_schema(
    request=NextRequestSerializer,
    responses={200: LeaseSerializer, 204: OpenApiResponse(description="Nothing left to judge")},
)
@api_view(["POST"])
def next_pair(request: Request, campaign_id: int) -> Response:
    """Lease the caller's next pair of the campaign (a held live lease comes back first)."""
    body = NextRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    campaign = _campaign(request, campaign_id)
    return _lease_response(queue.next_lease(campaign, request.user, exclude=tuple(body.validated_data["exclude"])))


@extend_schema(request=None, responses={200: LeaseSerializer, 204: OpenApiResponse(description="Nothing to undo")})
@api_view(["POST"])
def undo(request: Request, campaign_id: int) -> Response:
    """Take back the caller's latest judgment (within the lease length); returns that pair's lease."""
    return _lease_response(queue.undo_last(_campaign(request, campaign_id), request.user))


class JudgmentList(ListAPIView):
    """Judgments: the caller's own for annotators; everyone's for reviewers and engineers."""

    serializer_class = JudgmentSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        rows = Judgment.objects.order_by("-created_at", "-pk")
        if not is_staff_role(self.request.user):
            rows = rows.filter(annotator=self.request.user)
        for field in ("campaign", "annotator", "pair"):
            if value := self.request.query_params.get(field):
                rows = rows.filter(**{f"{field}_id": value})
        return rows

    @extend_schema(
        request=SubmitSerializer,
        responses={
            201: JudgmentSerializer,
            200: OpenApiResponse(JudgmentSerializer, description="Already submitted with this token"),
            404: OpenApiResponse(description="Unknown token"),
            409: OpenApiResponse(description="The lease expired and the pair was completed by others"),
        },
    )
    def post(self, request: Request) -> Response:
        """Submit a grade or a skip for a leased pair; idempotent by token."""
        body = SubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            result = queue.submit(
                request.user,
                data["token"],
                level=data.get("level"),
                skip_reason=data["skip_reason"],
                skip_note=data["skip_note"],
                seconds_spent=data["seconds_spent"],
            )
        except queue.UnknownToken as error:
            return Response({"detail": str(error)}, status=status.HTTP_404_NOT_FOUND)
        except queue.PairAlreadyComplete as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        except queue.QueueError as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(_judgment_data(result.judgment), status=code)


urlpatterns = [
    path("campaigns/", CampaignList.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>/next", next_pair, name="api-campaign-next"),
    path("campaigns/<int:campaign_id>/undo", undo, name="api-campaign-undo"),
    path("judgments/", JudgmentList.as_view(), name="api-judgments"),
]

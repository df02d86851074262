"""API for label quality: a campaign's latest agreement summary, the review queue, adjudication.

Reviewers and engineers only; the numbers come from the precomputed QualitySnapshot, never from
raw judgments inside the request.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from annotation import quality
from annotation.models import Campaign, CampaignPair, QualitySnapshot
from annotation.permissions import IsReviewerOrEngineer


class QualitySnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = QualitySnapshot
        fields = ["campaign", "computed_at", "judgment_count", "data"]


class ReviewItemSerializer(serializers.ModelSerializer):
    """A disputed pair with its grades; annotators are anonymised (A, B, C … in judgment order)."""

    query = serializers.CharField(source="pair.query.text")
    pin = serializers.CharField(source="pair.pin.external_id")
    grades = serializers.SerializerMethodField()

    class Meta:
        model = CampaignPair
        fields = [
            "id",
            "campaign",
            "pair",
            "query",
            "pin",
            "consensus_level",
            "spread",
            "is_gold",
            "gold_level",
            "grades",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_grades(self, item: CampaignPair) -> list[dict[str, object]]:
        judgments = item.pair.judgments.filter(campaign_id=item.campaign_id).order_by("created_at", "pk")
        return [
            {"annotator": f"Annotator {chr(65 + i)}", "level": j.level, "skip_reason": j.skip_reason}
            for i, j in enumerate(judgments)
        ]


class AdjudicationSerializer(serializers.Serializer):
    level = serializers.IntegerField(min_value=1, max_value=5)
    reason = serializers.CharField(max_length=4000)


@extend_schema(responses={200: QualitySnapshotSerializer, 404: OpenApiResponse(description="No snapshot yet")})
@api_view(["GET"])
@permission_classes([IsReviewerOrEngineer])
def campaign_quality(request: Request, campaign_id: int) -> Response:
    """The latest agreement summary of a campaign (α, κ, gold accuracy, distributions)."""
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    snapshot = campaign.quality_snapshots.order_by("-computed_at", "-pk").first()
    if snapshot is None:
        return Response({"detail": "No quality snapshot has been computed yet."}, status=status.HTTP_404_NOT_FOUND)
    return Response(QualitySnapshotSerializer(snapshot).data)


@extend_schema(parameters=[OpenApiParameter("campaign", int, description="Only this campaign")])
class ReviewQueue(ListAPIView):
    """Pairs waiting for a reviewer, widest disagreement first."""

    serializer_class = ReviewItemSerializer
    permission_classes = [IsReviewerOrEngineer]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        campaign = self.request.query_params.get("campaign")
        rows = quality.review_queue(get_object_or_404(Campaign, pk=campaign) if campaign else None)
        return rows.select_related("pair__query", "pair__pin")


@extend_schema(request=AdjudicationSerializer, responses={201: OpenApiResponse(description="Final grade stored")})
@api_view(["POST"])
@permission_classes([IsReviewerOrEngineer])
def adjudicate(request: Request, campaign_pair_id: int) -> Response:
    """Set the final grade of a pair (overrides the consensus), with a reason."""
    body = AdjudicationSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    item = get_object_or_404(CampaignPair, pk=campaign_pair_id)
    try:
        decision = quality.adjudicate(item, request.user, body.validated_data["level"], body.validated_data["reason"])
    except quality.AdjudicationError as error:
        return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
    return Response(
        {"id": decision.pk, "campaign_pair": item.pk, "level": decision.level, "created_at": decision.created_at},
        status=status.HTTP_201_CREATED,
    )


urlpatterns = [
    path("campaigns/<int:campaign_id>/quality", campaign_quality, name="api-campaign-quality"),
    path("review-queue/", ReviewQueue.as_view(), name="api-review-queue"),
    path("review-queue/<int:campaign_pair_id>/adjudicate", adjudicate, name="api-adjudicate"),
]

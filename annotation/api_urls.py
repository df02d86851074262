"""URLs of the REST API, mounted at /api/v1/."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from annotation import api

router = DefaultRouter()
router.register("queries", api.QueryViewSet, basename="api-query")
router.register("pins", api.PinViewSet, basename="api-pin")
router.register("pairs", api.PairViewSet, basename="api-pair")

urlpatterns = [
    path("auth/token", obtain_auth_token, name="api-token"),
    path("", include("annotation.api_labeling")),
    path("", include("annotation.api_quality")),
    path("", include(router.urls)),
    path("", include("annotation.api_transfer")),
    path("", include("annotation.api_datasets")),
    path("", include("modeling.api")),
]

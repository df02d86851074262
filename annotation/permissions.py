"""DRF permission classes for the three roles of `annotation.roles`.

Anonymous requests fail every class here; DRF then answers 401 (not 403) because the
token authenticator names a `WWW-Authenticate` scheme.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from annotation.roles import is_engineer, is_staff_role


class IsEngineer(BasePermission):
    """Engineers (and superusers) only."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_engineer(request.user)


class IsReviewerOrEngineer(BasePermission):
    """Reviewers and engineers: the people who may see everyone's data."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_staff_role(request.user)


class StaffReadsEngineerWrites(BasePermission):
    """Reviewers and engineers may read; only engineers may create, change or delete."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in SAFE_METHODS:
            return is_staff_role(request.user)
        return is_engineer(request.user)

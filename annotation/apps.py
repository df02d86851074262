from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_role_groups(**kwargs: Any) -> None:
    from annotation.roles import ensure_role_groups

    ensure_role_groups()


class AnnotationConfig(AppConfig):
    """Collects human grades of (query, Pin) pairs."""

    name = "annotation"
    verbose_name = "Annotation"

    def ready(self) -> None:
        # Permissions only exist after migrate, so the role groups are (re)built then.
        post_migrate.connect(_create_role_groups, dispatch_uid="annotation_role_groups")

from __future__ import annotations

from django.apps import AppConfig


class ModelingConfig(AppConfig):
    """Trains, labels with and serves relevance models."""

    name = "modeling"
    verbose_name = "Modeling"

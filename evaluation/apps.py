from __future__ import annotations

from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    """Measures models against human grades."""

    name = "evaluation"
    verbose_name = "Evaluation"

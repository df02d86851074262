"""Fixtures for modeling tests: the real backbone folder and a real Celery worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from modeling.ml.backbone import build_me5_small, is_complete


@pytest.fixture(scope="session")
def me5_small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """multilingual-e5-small as a Hugging Face folder: BACKBONE_DIR when already built, else a
    fresh build in a session temp folder (~15–25 s on two cores)."""
    configured = Path(settings.BACKBONE_DIR)
    if is_complete(configured):
        return configured
    return build_me5_small(tmp_path_factory.mktemp("backbone") / "me5-small")

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from annotation.languages import detect_language

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "language"),
    [("赤いドレス", "ja"), ("zapatos rojos para mujer", "es"), ("robe rouge pour femme", "fr"), ("12345", None)],
)
def test_detects_the_language_of_short_queries(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "relevance_site.settings"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_detection_needs_no_network() -> None:
    result = _run(
        """
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network used")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from annotation.languages import detect_language
        print(detect_language("zapatos rojos para mujer"))
        """
    )
    assert result.stdout.strip() == "es", result.stderr


def test_web_modules_do_not_import_lingua() -> None:
    result = _run(
        """
        import sys
        import django
        django.setup()
        import relevance_site.urls, annotation.api_transfer, annotation.admin_import, annotation.importing
        print("lingua" in sys.modules)
        """
    )
    assert result.stdout.strip() == "False", result.stderr

"""The web process must never pay for torch: importing every URL module and rendering the main
pages in a fresh interpreter leaves torch and transformers unimported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, django
django.setup()
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import setup_test_environment
from django.urls import get_resolver
setup_test_environment()
get_resolver().url_patterns  # imports every URL module and view
engineer = User.objects.get(username="torch-check")
client = Client()
client.force_login(engineer)
for url in ["/", "/admin/", "/admin/annotation/pair/", "/api/v1/", "/api/docs/", "/api/schema/"]:
    status = client.get(url).status_code
    assert status < 400, (url, status)
heavy = sorted(m for m in ("torch", "transformers", "lingua") if m in sys.modules)
print("HEAVY", heavy)
"""


@pytest.mark.django_db(transaction=True)
def test_web_pages_do_not_import_torch(engineer, settings) -> None:
    engineer.username = "torch-check"
    engineer.is_superuser = True
    engineer.save()
    from django.db import connection

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "relevance_site.settings"}
    db = connection.settings_dict
    env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HEAVY []" in result.stdout

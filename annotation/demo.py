"""The demo world `make run` loads: ESCI pairs, the default guideline, three accounts, a campaign."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction

from annotation.default_guideline import install_default_guideline
from annotation.importing import ImportReport, import_pairs
from annotation.models import Campaign, CampaignPair, Pair, Pool
from annotation.roles import ANNOTATOR, ENGINEER, REVIEWER, ensure_role_groups

DEMO_DATA_DIR = Path(__file__).resolve().parent / "demo_data"
DEMO_FILES = ("esci_us_titles.jsonl", "esci_us_fulltext.jsonl", "esci_es_unlabeled.jsonl")
DEMO_CAMPAIGN = "ESCI demo (full text)"
DEMO_ACCOUNTS = {"annotator": ANNOTATOR, "reviewer": REVIEWER, "engineer": ENGINEER}


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str


def load_demo_pairs() -> dict[str, ImportReport]:
    """Import the bundled ESCI files (idempotent: a re-run changes nothing)."""
    return {name: import_pairs(DEMO_DATA_DIR / name) for name in DEMO_FILES}


def ensure_demo_accounts(credentials_file: Path) -> list[DemoAccount]:
    """Create the demo users once with random passwords kept in `credentials_file` (outside git)."""
    groups = ensure_role_groups()
    known = json.loads(credentials_file.read_text()) if credentials_file.exists() else {}
    accounts = []
    for username, role in DEMO_ACCOUNTS.items():
        password = known.get(username) or secrets.token_urlsafe(9)
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": role != ANNOTATOR})
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        user.groups.add(groups[role])
        known[username] = password
        accounts.append(DemoAccount(username, password, role))
    credentials_file.parent.mkdir(parents=True, exist_ok=True)
    credentials_file.write_text(json.dumps(known, indent=2))
    credentials_file.chmod(0o600)
    return accounts


@transaction.atomic
def ensure_demo_campaign() -> Campaign:
    """A campaign over the full-text ESCI pairs, three judgments each, the demo annotator a member."""
    campaign, created = Campaign.objects.get_or_create(
        name=DEMO_CAMPAIGN,
        defaults={
            "description": "200 English query–product pairs with full text, from ESCI.",
            "guideline": install_default_guideline(),
            "judgments_per_pair": 3,
        },
    )
    if created:
        pairs = Pair.objects.filter(pool=Pool.HUMAN, pin__description__gt="").order_by("id")
        CampaignPair.objects.bulk_create(
            CampaignPair(campaign=campaign, pair=pair, position=i) for i, pair in enumerate(pairs)
        )
    campaign.members.add(*User.objects.filter(groups__name=ANNOTATOR))
    return campaign

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.default_guideline import install_default_guideline
from annotation.demo import ensure_demo_accounts, ensure_demo_campaign, load_demo_pairs


class Command(BaseCommand):
    help = "Load the ESCI demo pairs, the default guideline, demo accounts and a demo campaign (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--allow-production", action="store_true", help="Seed even with DJANGO_DEBUG=false.")

    def handle(self, *args: Any, allow_production: bool, **options: Any) -> None:
        if not settings.DEBUG and not allow_production:
            raise CommandError("Refusing to create demo accounts with DJANGO_DEBUG=false (use --allow-production).")
        guideline = install_default_guideline()
        reports = load_demo_pairs()
        accounts = ensure_demo_accounts(settings.VAR_DIR / "demo_accounts.json")
        campaign = ensure_demo_campaign()
        self.stdout.write("Demo logins (http://127.0.0.1:8000/accounts/login/):")
        for account in accounts:
            self.stdout.write(f"  {account.role:<10} user: {account.username:<10} password: {account.password}")
        summary = {
            "guideline": str(guideline),
            "campaign": campaign.name,
            "imported": {name: report.rows for name, report in reports.items()},
        }
        self.stdout.write(json.dumps(summary))

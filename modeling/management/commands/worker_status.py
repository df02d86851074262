"""`manage.py worker_status [--wait SECONDS]`: ping every queue and report which are consumed."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from modeling import workers


class Command(BaseCommand):
    help = "Send a heartbeat to each Celery queue and report which ones a worker answers."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--wait", type=float, default=10.0, metavar="SECONDS", help="how long to wait for answers (10)"
        )

    def handle(self, *args: Any, wait: float = 10.0, **options: Any) -> None:
        if wait < 0:
            raise CommandError("--wait must not be negative")
        pings = workers.wait_for_answers(workers.send_pings(), timeout_s=wait)
        for row in pings:
            if row.answered_at:
                self.stdout.write(f"{row.queue}: online ({row.worker_hostname}, answered in {row.latency_s:.2f} s)")
            else:
                self.stdout.write(f"{row.queue}: offline (no answer within {wait:g} s)")
        self.stdout.write(json.dumps({row.queue: bool(row.answered_at) for row in pings}))
        if not all(row.answered_at for row in pings):
            hint = "start one with: celery -A relevance_site worker -Q celery,gpu"
            raise CommandError(f"some queues have no worker; {hint}")

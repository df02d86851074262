"""Run the web server and one Celery worker together; Ctrl-C stops both.

The embedded mode of `make run`: one command, two real processes. In production run
gunicorn and `celery worker` separately (see README).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

STOP_GRACE_SECONDS = 15


class Command(BaseCommand):
    help = "Start gunicorn and a Celery worker (queues celery + gpu) and supervise both."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--queues", default="celery,gpu")

    def handle(self, *args: Any, bind: str, web_workers: int, queues: str, **options: Any) -> None:
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "relevance_site.wsgi:application",
                "--bind",
                bind,
                "--workers",
                str(web_workers),
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ],
            "worker": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "relevance_site",
                "worker",
                "-Q",
                queues,
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "-n",
                "embedded@%h",
            ],
        }
        self.stdout.write(
            f"Broker: {_redact(settings.CELERY_BROKER_URL)}  Database: {settings.DATABASES['default']['ENGINE']}"
        )
        processes = {name: subprocess.Popen(command) for name, command in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"Relevance Studio on http://{bind}/  (Ctrl-C stops web and worker)"))
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exited = None
        while not stopping and exited is None:
            exited = next((name for name, proc in processes.items() if proc.poll() is not None), None)
            time.sleep(0.5)
        _stop_all(processes)
        if exited is not None:
            code = processes[exited].returncode
            raise SystemExit(f"The {exited} process exited with code {code}; stopped the rest.")
        self.stdout.write("Stopped web server and worker.")


def _stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in processes.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url

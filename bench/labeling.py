"""Labeling round trips under load: next-pair + submit against gunicorn on PostgreSQL.

    DATABASE_URL=postgres://USER@HOST:PORT/NAME python bench/labeling.py [--pairs 1000000]
        [--annotators 50] [--seconds 30] [--reset]

Builds a campaign of --pairs pairs (default 1,000,000) and, side by side, a baseline campaign
of 1,000 pairs; starts gunicorn; 50 simulated annotators (threads with keep-alive connections)
take the next pair and grade it, over and over, first on the baseline campaign, then on the big
one. Server time is read from each response's `Server-Timing: app;dur=` header (time inside
Django, so client threads competing for the same 2 cores do not inflate it). Prints p50/p95/p99
per endpoint, the ratio big/baseline and p95 against the 25 ms target.

Refuses a database that already holds pairs unless --reset (which empties the annotation tables).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 25.0
BASELINE_PAIRS = 1_000


def main() -> None:
    args = _arguments()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (postgres://USER@HOST:PORT/NAME).")
    _setup_django()
    from annotation.models import Pair

    if Pair.objects.exists() and not args.reset:
        sys.exit("This database already holds pairs; use --reset to empty it first.")
    started = time.perf_counter()
    tokens, campaigns = _build_world(args.pairs, args.annotators)
    print(f"built {args.pairs:,} + {BASELINE_PAIRS:,} pairs in {time.perf_counter() - started:.0f} s", flush=True)
    port = _free_port()
    server = _start_gunicorn(port, args.web_workers)
    try:
        results = {}
        for name, campaign_id in campaigns.items():
            results[name] = _load(port, campaign_id, tokens, args.seconds)
            _report(name, results[name])
        _compare(results["baseline"], results["big"])
    finally:
        server.terminate()
        server.wait(timeout=30)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration per campaign")
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--reset", action="store_true")
    return parser.parse_args()


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relevance_site.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _build_world(pairs: int, annotators: int) -> tuple[list[str], dict[str, int]]:
    from django.contrib.auth.models import Group, User
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from annotation.default_guideline import install_default_guideline
    from annotation.models import Campaign

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE annotation_lease, annotation_judgment, annotation_campaignpair, annotation_campaign_members,"
            " annotation_campaign, annotation_pair, annotation_pin, annotation_query CASCADE"
        )
        total = pairs + BASELINE_PAIRS
        cursor.execute(
            "INSERT INTO annotation_query (external_id, text, language, country, created_at)"
            " SELECT 'bq' || g, 'query number ' || g, 'en', '', now() FROM generate_series(1, %s) g",
            [total // 10 + 1],
        )
        cursor.execute(
            "INSERT INTO annotation_pin (external_id, title, description, image_url, image, caption, link_title,"
            " link_description, board_titles, engaged_queries, language, created_at)"
            " SELECT 'bp' || g, 'Pin ' || g, 'A description of pin ' || g, '', '', '', '', '', '[]', '[]', 'en', now()"
            " FROM generate_series(1, %s) g",
            [total],
        )
        cursor.execute(
            "INSERT INTO annotation_pair (query_id, pin_id, pool, split, engagement, created_at)"
            " SELECT q.id, p.id, 'human', '', '{}', now() FROM annotation_pin p"
            " JOIN annotation_query q ON q.external_id = 'bq' || (1 + (substr(p.external_id, 3)::bigint %% %s))",
            [total // 10 + 1],
        )
        guideline = install_default_guideline()
        campaigns = {
            "baseline": Campaign.objects.create(name="bench baseline", guideline=guideline, judgments_per_pair=3),
            "big": Campaign.objects.create(name="bench big", guideline=guideline, judgments_per_pair=3),
        }
        # The first BASELINE_PAIRS pairs go to the baseline campaign, the rest to the big one.
        cursor.execute(
            "INSERT INTO annotation_campaignpair (campaign_id, pair_id, position, is_gold, graded_count)"
            " SELECT CASE WHEN rn <= %s THEN %s ELSE %s END, id, rn, false, 0"
            " FROM (SELECT id, row_number() OVER (ORDER BY id) rn FROM annotation_pair) s",
            [BASELINE_PAIRS, campaigns["baseline"].pk, campaigns["big"].pk],
        )
        group = Group.objects.get(name="annotator")
        User.objects.filter(username__startswith="bench-annotator").delete()
        users = [
            User.objects.create_user(f"bench-annotator{i}", password=secrets.token_hex(8)) for i in range(annotators)
        ]
        group.user_set.add(*users)
        for campaign in campaigns.values():
            campaign.members.add(*users)
        tokens = [Token.objects.create(user=user).key for user in users]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return tokens, {name: c.pk for name, c in campaigns.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_HTTPS": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "relevance_site.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        # Sync workers: server time is then time spent on the request, not waiting for the GIL.
        "--threads",
        "1",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("gunicorn did not start")


def _load(port: int, campaign_id: int, tokens: list[str], seconds: float) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"next": [], "submit": [], "round_trip_client": []}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def annotator(token: str, seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            status, lease, next_ms = _post(conn, f"/api/v1/campaigns/{campaign_id}/next", {}, headers)
            if status != 200:
                break
            body = {"token": lease["token"], "level": rng.randint(1, 5), "seconds_spent": 3.0}
            status, _, submit_ms = _post(conn, "/api/v1/judgments/", body, headers)
            with lock:
                timings["next"].append(next_ms)
                timings["submit"].append(submit_ms)
                timings["round_trip_client"].append((time.perf_counter() - t0) * 1000)
        conn.close()

    threads = [threading.Thread(target=annotator, args=(t, i)) for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return timings


def _post(conn: http.client.HTTPConnection, path: str, body: dict, headers: dict) -> tuple[int, dict, float]:
    conn.request("POST", path, json.dumps(body), headers)
    response = conn.getresponse()
    raw = response.read()
    server_ms = float(response.getheader("Server-Timing", "app;dur=nan").split("dur=")[1])
    return response.status, (json.loads(raw) if raw else {}), server_ms


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")


def _report(name: str, timings: dict[str, list[float]]) -> None:
    rounds = len(timings["next"])
    print(f"\n{name}: {rounds:,} next+submit round trips")
    for key, values in timings.items():
        p50, p95, p99 = (_percentile(values, q) for q in (50, 95, 99))
        print(f"  {key:<18} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   p99 {p99:7.2f} ms")


def _compare(baseline: dict[str, list[float]], big: dict[str, list[float]]) -> None:
    print("\nbig campaign vs 1,000-pair baseline (server time, p95):")
    for key in ("next", "submit"):
        b, g = _percentile(baseline[key], 95), _percentile(big[key], 95)
        print(
            f"  {key:<8} {g:7.2f} ms vs {b:7.2f} ms  ratio {g / b:5.2f}x   target {TARGET_P95_MS:.0f} ms: "
            f"{g / TARGET_P95_MS:4.2f}x of target"
        )


if __name__ == "__main__":
    main()

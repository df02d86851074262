"""Labeling round trips under load: next-pair + submit against gunicorn on PostgreSQL.

    DATABASE_URL=postgres://USER@HOST:PORT/NAME python bench/labeling.py [--pairs 1000000]
        [--annotators 50] [--seconds 30] [--think 0] [--reset | --reuse]

Builds a campaign of --pairs pairs (default 1,000,000) and, side by side, a baseline campaign
of 1,000 pairs; starts gunicorn; 50 simulated annotators (threads with keep-alive connections)
take the next pair and grade it, over and over, first on the baseline campaign, then on the big
one. Server time is read from each response's `Server-Timing: app;dur=` header (time inside
Django, so client threads competing for the same 2 cores do not inflate it). Prints p50/p95/p99
per endpoint, the ratio big/baseline and p95 against the 25 ms target.

With --think S, each annotator pauses uniformly 0.5·S to 1.5·S seconds after every grade, as a person
does (an open, pace-limited load: 50 annotators at --think 2 ask for about 25 round trips/s);
without it the loop is closed and the server runs flat out (the worst case).

Besides latencies it reports throughput, the CPU used by the client process, by gunicorn and by
the PostgreSQL backends of this database (so a saturated load generator would show), the load
average, and the average number of active backends per PostgreSQL wait event (row-lock waits,
WAL fsync, …), sampled every 100 ms.

Refuses a database that already holds pairs unless --reset (which empties the annotation tables)
or --reuse (which keeps the pairs and campaigns an earlier run built, and deletes their judgments and
leases, so that runs compared with each other start from the same state without a rebuild).
"""

from __future__ import annotations

import argparse
import collections
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

    if args.reuse:
        tokens, campaigns = _reuse_world(args.annotators)
    elif Pair.objects.exists() and not args.reset:
        sys.exit("This database already holds pairs; use --reset to empty it first (or --reuse).")
    else:
        started = time.perf_counter()
        tokens, campaigns = _build_world(args.pairs, args.annotators)
        print(f"built {args.pairs:,} + {BASELINE_PAIRS:,} pairs in {time.perf_counter() - started:.0f} s", flush=True)
    port = _free_port()
    server = _start_gunicorn(port, args.web_workers)
    try:
        results = {}
        for name, campaign_id in campaigns.items():
            before = _cpu_seconds(server.pid)
            with _WaitSampler() as waits:
                started = time.monotonic()
                results[name] = _load(port, campaign_id, tokens, args.seconds, args.think)
                elapsed = time.monotonic() - started
            _report(name, results[name], elapsed)
            _report_resources(before, _cpu_seconds(server.pid), elapsed, waits.averages())
        _compare(results["baseline"], results["big"])
    finally:
        server.terminate()
        server.wait(timeout=30)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="load duration per campaign")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause in seconds between grades")
    parser.add_argument("--web-workers", type=int, default=3)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--reset", action="store_true")
    group.add_argument("--reuse", action="store_true")
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
            "INSERT INTO annotation_campaignpair (campaign_id, pair_id, position, is_gold, graded_count, needs_review)"
            " SELECT CASE WHEN rn <= %s THEN %s ELSE %s END, id, rn, false, 0, false"
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


def _reuse_world(annotators: int) -> tuple[list[str], dict[str, int]]:
    """The campaigns of an earlier run, their judgments and leases deleted and their counts reset."""
    from django.db import connection, transaction
    from rest_framework.authtoken.models import Token

    from annotation.models import Campaign, CampaignPair

    campaigns = {name: Campaign.objects.get(name=f"bench {name}").pk for name in ("baseline", "big")}
    users = [f"bench-annotator{i}" for i in range(annotators)]
    tokens = list(Token.objects.filter(user__username__in=users).values_list("key", flat=True))
    if len(tokens) != annotators:
        sys.exit("The earlier run had a different number of annotators; use --reset.")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE annotation_lease, annotation_judgment CASCADE")
        CampaignPair.objects.filter(graded_count__gt=0).update(graded_count=0)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE annotation_campaignpair")
    total = CampaignPair.objects.filter(campaign_id=campaigns["big"]).count()
    print(f"reusing {total:,} + {BASELINE_PAIRS:,} pairs, judgments and leases deleted", flush=True)
    return tokens, campaigns


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


def _load(port: int, campaign_id: int, tokens: list[str], seconds: float, think: float) -> dict[str, list[float]]:
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
            if think:
                time.sleep(rng.uniform(0.5 * think, 1.5 * think))
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


def _report(name: str, timings: dict[str, list[float]], elapsed: float) -> None:
    rounds = len(timings["next"])
    print(f"\n{name}: {rounds:,} next+submit round trips in {elapsed:.0f} s = {rounds / elapsed:.1f}/s")
    for key, values in timings.items():
        p50, p95, p99 = (_percentile(values, q) for q in (50, 95, 99))
        print(f"  {key:<18} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   p99 {p99:7.2f} ms")


def _cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of this process (the client), gunicorn (master + workers) and this database's backends."""
    tick = os.sysconf("SC_CLK_TCK")
    database = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
    used = collections.Counter({"client": sum(os.times()[:2])})
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(pid) == server_pid or (int(fields[1]) == server_pid and "gunicorn" in command):
            used["gunicorn"] += seconds
        elif command.startswith("postgres:") and f" {database} " in command:
            used["postgres"] += seconds
    return used


class _WaitSampler:
    """Samples pg_stat_activity every 100 ms: how many of this database's backends are active, waiting on what."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        url = os.environ["DATABASE_URL"]
        with psycopg.connect(url, autocommit=True) as conn:
            while not self._stop.wait(0.1):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') FROM pg_stat_activity"
                    " WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()"
                ).fetchall()
                self.samples += 1
                self.counts.update(row[0] for row in rows)

    def averages(self) -> dict[str, float]:
        return {key: count / max(self.samples, 1) for key, count in self.counts.most_common()}


def _report_resources(
    before: dict[str, float], after: dict[str, float], elapsed: float, waits: dict[str, float]
) -> None:
    cpu = "   ".join(
        f"{key} {100 * (after[key] - before[key]) / elapsed:.0f}%" for key in ("gunicorn", "postgres", "client")
    )
    print(f"  CPU (100% = one core, {os.cpu_count()} cores): {cpu}   load average {os.getloadavg()[0]:.2f}")
    active = "   ".join(f"{key} {value:.2f}" for key, value in waits.items() if value >= 0.01)
    print(f"  active PostgreSQL backends on average, by wait: {active or 'none'}")


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

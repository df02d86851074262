"""Import throughput: 100k synthetic pairs into PostgreSQL, fresh and again (idempotent re-import).

    DATABASE_URL=postgres://USER@HOST:PORT/NAME python bench/import.py [--pairs N] [--reset]

Refuses a database that already holds pairs unless --reset (which deletes every query, pin and
pair there). Prints pairs/s for both imports and their ratio to the 20,000 pairs/s target.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

TARGET_PAIRS_PER_SECOND = 20_000
LANGUAGES = {
    "en": ("red", "summer", "dress", "wedding", "ideas", "kitchen", "outfit", "nails", "garden", "cake"),
    "es": ("vestido", "rojo", "verano", "ideas", "boda", "cocina", "uñas", "jardín", "pastel", "moda"),
    "de": ("rotes", "kleid", "sommer", "hochzeit", "ideen", "küche", "nägel", "garten", "kuchen", "mode"),
    "fr": ("robe", "rouge", "été", "mariage", "idées", "cuisine", "ongles", "jardin", "gâteau", "tenue"),
    "ja": ("赤い", "ドレス", "夏", "結婚式", "アイデア", "キッチン", "ネイル", "庭", "ケーキ", "コーデ"),
    "pt": ("vestido", "vermelho", "verão", "casamento", "ideias", "cozinha", "unhas", "bolo", "moda", "jardim"),
}
LANGUAGE_WEIGHTS = (0.55, 0.12, 0.1, 0.1, 0.08, 0.05)


def main() -> None:
    args = _arguments()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (postgres://USER@HOST:PORT/NAME).")
    _setup_django()
    from annotation.importing import import_pairs
    from annotation.models import Pair, Pin, Query

    if Pair.objects.exists():
        if not args.reset:
            sys.exit("This database already has pairs; pass --reset to delete all queries, pins and pairs.")
        Query.objects.all().delete()
        Pin.objects.all().delete()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pairs.jsonl"
        _write_file(path, args.pairs, random.Random(args.seed))
        print(f"file: {args.pairs:,} pairs, {path.stat().st_size / 1e6:.0f} MB")
        for name in ("fresh import", "re-import"):
            started = time.perf_counter()
            report = import_pairs(path)
            seconds = time.perf_counter() - started
            rate = report.rows / seconds
            ratio = rate / TARGET_PAIRS_PER_SECOND
            print(f"{name}: {seconds:.2f} s, {rate:,.0f} pairs/s ({ratio:.2f}× target) {json.dumps(report.as_dict())}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reset", action="store_true", help="delete existing queries, pins and pairs first")
    return parser.parse_args()


def _setup_django() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relevance_site.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _write_file(path: Path, pairs: int, rng: random.Random) -> None:
    """~pairs/10 queries and ~0.6·pairs pins; every (query, pin) at most once; pins keep their fields."""
    queries = [_query(rng) for _ in range(max(1, pairs // 10))]
    pin_count = max(1, pairs * 6 // 10)
    seen: set[tuple[int, int]] = set()
    with path.open("w", encoding="utf-8") as out:
        while len(seen) < pairs:
            key = (rng.randrange(len(queries)), len(seen) if len(seen) < pin_count else rng.randrange(pin_count))
            if key in seen:
                continue
            seen.add(key)
            out.write(json.dumps(_row(queries[key[0]], key[0], key[1], rng), ensure_ascii=False) + "\n")


def _query(rng: random.Random) -> tuple[str, str]:
    language = rng.choices(list(LANGUAGES), LANGUAGE_WEIGHTS)[0]
    words = rng.sample(LANGUAGES[language], rng.randint(1, 4))
    joiner = "" if language == "ja" else " "
    return language, joiner.join(words)


def _row(query: tuple[str, str], query_index: int, pin: int, rng: random.Random) -> dict[str, object]:
    language, text = query
    # A pin's fields depend only on its number, so a pin repeated in the file repeats them exactly.
    pin_rng = random.Random(pin)
    words = LANGUAGES[pin_rng.choice(list(LANGUAGES))]
    return {
        "query_id": f"q{query_index}",
        "query": f"{text} {query_index}",
        "language": language,
        "country": ("US", "GB", "ES", "MX", "DE", "FR", "JP", "BR")[query_index % 8],
        "pin_id": f"pin-{pin}",
        "title": " ".join(pin_rng.choices(words, k=6)).capitalize(),
        "description": " ".join(pin_rng.choices(words, k=30)),
        "caption": "A photo of " + " ".join(pin_rng.choices(words, k=8)),
        "link_title": " ".join(pin_rng.choices(words, k=5)),
        "link_description": " ".join(pin_rng.choices(words, k=15)),
        "image_url": f"https://i.pinimg.example/originals/{pin:08x}.jpg",
        "board_titles": [" ".join(pin_rng.choices(words, k=2)) for _ in range(pin_rng.randint(1, 4))],
        "engaged_queries": pin_rng.sample(words, 3),
        "label": rng.choice((None, 1, 2, 3, 4, 5)),
        "split": rng.choice((None, "train", "train", "val", "test")),
    }


if __name__ == "__main__":
    main()

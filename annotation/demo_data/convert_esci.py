"""Convert the public ESCI samples into this project's import format (run once, by hand).

Usage: python annotation/demo_data/convert_esci.py SHARED_DATA_DIR
Writes the three JSONL files beside this script. The product itself only reads the
converted files. ESCI grades map to the 5-level scale as E→5, S→4, C→3, I→2
(no ESCI grade means "highly irrelevant", so level 1 stays unused by the demo data).
"""

from __future__ import annotations

import csv
import html
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ESCI_TO_LEVEL = {"E": 5, "S": 4, "C": 3, "I": 2, "Exact": 5, "Substitute": 4, "Complement": 3, "Irrelevant": 2}
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    return _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", text or ""))).strip()


def us_titles(src: Path) -> Iterator[dict]:
    for line in (src / "esci-us-500q-titles" / "pairs.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        yield {
            "query": row["query"],
            "query_id": f"esci-us-{row['query_id']}",
            "pin_id": f"esci-us-{row['product_id']}",
            "title": row["item_text"],
            "language": "en",
            "country": "US",
            "label": ESCI_TO_LEVEL[row["esci_label"]],
        }


def us_fulltext(src: Path) -> Iterator[dict]:
    with (src / "esci-us-200-fulltext" / "esci.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            bullets = clean(row["product_bullet_point"])
            description = clean(row["product_description"])
            yield {
                "query": row["query"],
                "query_id": f"esci-us-{row['query_id']}",
                "pin_id": f"esci-us-{row['product_id']}",
                "title": clean(row["product_title"]),
                "description": " ".join(part for part in (description, bullets) if part),
                "link_title": clean(" ".join(p for p in (row["product_brand"], row["product_color"]) if p)),
                "language": "en",
                "country": "US",
                "label": ESCI_TO_LEVEL[row["esci_label"]],
            }


def es_unlabeled(src: Path) -> Iterator[dict]:
    for line in (src / "esci-es-binary-600" / "pairs.jsonl").open(encoding="utf-8"):
        row = json.loads(line)
        # Only Exact vs the rest is known here, which does not map onto five levels:
        # these pairs are the multilingual unlabeled pool for pseudo-labeling.
        yield {
            "query": row["query"],
            "query_id": f"esci-es-{row['query_id']}",
            "pin_id": f"esci-es-{row['product_id']}",
            "title": row["item_text"],
            "language": "es",
            "country": "ES",
            "pool": "unlabeled",
        }


def write(name: str, rows: Iterator[dict]) -> int:
    seen: set[tuple[str, str]] = set()
    count = 0
    with (HERE / name).open("w", encoding="utf-8") as out:
        for row in rows:
            key = (row["query_id"], row["pin_id"])
            if key in seen:
                continue
            seen.add(key)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


if __name__ == "__main__":
    source = Path(sys.argv[1])
    for name, rows in (
        ("esci_us_titles.jsonl", us_titles(source)),
        ("esci_us_fulltext.jsonl", us_fulltext(source)),
        ("esci_es_unlabeled.jsonl", es_unlabeled(source)),
    ):
        print(name, write(name, rows))

"""The language of a search query, detected offline.

Why lingua (lingua-language-detector 2.1.1): queries are one to five words, and lingua is built
for exactly that — it scores character 1- to 5-grams with models trained on words and short
phrases, plus rule-based filters by script, so "赤いドレス" or "zapatos rojos" come out right
where detectors tuned for sentences (langdetect, cld2/cld3, fastText's lid.176) are unreliable
on a handful of characters. Its models ship inside the wheel: it needs no download and no
network (checked with the network namespace removed, `unshare -rn`, and by
tests/annotation/test_languages.py, which forbids sockets). Cost: loading all 75 language
models takes about 5 s and a few hundred MB on the first call, so the detector is built lazily,
once per process, and lingua is imported only inside `_detector` — never when a web process
imports this module.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector

# Distinct query texts remembered per process; a file with more distinct texts still works,
# it only detects some of them twice.
DETECTION_CACHE_SIZE = 200_000


@functools.cache
def _detector() -> LanguageDetector:
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_all_languages().build()


@functools.lru_cache(maxsize=DETECTION_CACHE_SIZE)
def detect_language(text: str) -> str | None:
    """ISO 639-1 code (lower case) of `text`, or None when no language is recognisable."""
    language = _detector().detect_language_of(text)
    if language is None:
        return None
    return language.iso_code_639_1.name.lower()

